from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smarketing_sync.flow.survivorship import NEVER, Claim, Survivorship
from smarketing_sync.settings import ResolveSettings

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def claims(*items: tuple[str, object, int]) -> dict[str, Claim]:
    return {c: Claim(c, v, T0 + timedelta(minutes=m)) for c, v, m in items}


def test_most_recent_takes_the_newest_change() -> None:
    rules = Survivorship(ResolveSettings())
    winner = rules.choose("company", claims(("hubspot", "Old", 1), ("pipedrive", "New", 5)))
    assert winner is not None and winner.value == "New"


def test_most_recent_tie_goes_to_default_order_then_name() -> None:
    tied = claims(("hubspot", "H", 1), ("pipedrive", "P", 1))
    assert Survivorship(ResolveSettings(default_order=["pipedrive"])).choose("x", tied).value == "P"  # type: ignore[union-attr]
    assert Survivorship(ResolveSettings()).choose("x", tied).value == "H"  # type: ignore[union-attr]


def test_blank_since_first_seen_never_beats_a_value() -> None:
    rules = Survivorship(ResolveSettings())
    got = rules.choose(
        "phone",
        {"hubspot": Claim("hubspot", "+49301", T0), "pipedrive": Claim("pipedrive", None, NEVER)},
    )
    assert got is not None and got.value == "+49301"


def test_a_real_clearing_wins_under_most_recent() -> None:
    rules = Survivorship(ResolveSettings())
    got = rules.choose("phone", claims(("hubspot", "+49301", 1), ("pipedrive", "", 9)))
    assert got is not None and got.value == ""


def test_precedence_first_tool_with_a_value_wins_even_if_older() -> None:
    rules = Survivorship(
        ResolveSettings(fields={"email": {"rule": "precedence", "order": ["pipedrive", "hubspot"]}})  # type: ignore[dict-item]
    )
    got = rules.choose(
        "email", claims(("hubspot", "new@x.example", 9), ("pipedrive", "old@x.example", 1))
    )
    assert got is not None and got.value == "old@x.example"
    got = rules.choose("email", claims(("hubspot", "new@x.example", 9), ("pipedrive", None, 1)))
    assert got is not None and got.value == "new@x.example"


def test_prefer_unless_blank() -> None:
    rules = Survivorship(
        ResolveSettings(fields={"company": {"rule": "prefer", "prefer": "pipedrive"}})  # type: ignore[dict-item]
    )
    got = rules.choose("company", claims(("hubspot", "Newer", 9), ("pipedrive", "Preferred", 1)))
    assert got is not None and got.value == "Preferred"
    got = rules.choose("company", claims(("hubspot", "Newer", 9), ("pipedrive", "  ", 10)))
    assert got is not None and got.value == "Newer"


def test_no_claims_no_winner() -> None:
    assert Survivorship(ResolveSettings()).choose("x", {}) is None


@pytest.mark.parametrize("order", [["a", "b", "a"]])
def test_precedence_order_must_not_repeat(order: list[str]) -> None:
    with pytest.raises(ValueError, match="twice"):
        ResolveSettings(fields={"x": {"rule": "precedence", "order": order}})  # type: ignore[dict-item]
