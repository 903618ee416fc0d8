"""Owner assignment: human owners kept, territories first, round robin, caps, away owners."""

from __future__ import annotations

from datetime import date

from smarketing_sync.handoff.assign import assign, matches, territory_pool
from smarketing_sync.settings import HandoffSettings

TODAY = date(2026, 11, 23)


def config(**extra: object) -> HandoffSettings:
    data: dict[str, object] = {
        "enabled": True,
        "crm": "pipedrive",
        "integration_user": "1",
        "owners": [
            {"id": "11", "name": "Anna", "pools": ["dach"], "cap": 2},
            {"id": "12", "name": "Ben", "pools": ["dach", "default"]},
            {"id": "21", "name": "Chloé", "pools": ["default"]},
            {"id": "22", "name": "Dev", "pools": ["enterprise"], "away": True},
        ],
        "territories": [
            {"pool": "enterprise", "when": {"employees": {"min": 1000}}},
            {"pool": "dach", "when": {"country": ["DE", "AT", "CH"]}},
        ],
    }
    data.update(extra)
    return HandoffSettings.model_validate(data)


def test_a_human_owner_in_the_crm_is_never_overwritten() -> None:
    result = assign(
        config(), {"country": "DE"}, crm_owner="12", open_counts={}, pointers={}, today=TODAY
    )
    assert (result.owner_id, result.source) == ("12", "crm")


def test_the_integration_user_is_not_a_human_owner() -> None:
    result = assign(
        config(), {"country": "DE"}, crm_owner="1", open_counts={}, pointers={}, today=TODAY
    )
    assert result.source == "assigned"
    assert result.pool == "dach"


def test_round_robin_within_the_territory_pool() -> None:
    cfg = config()
    pointers: dict[str, str] = {}
    picked = []
    for _ in range(4):
        result = assign(
            cfg, {"country": "AT"}, crm_owner=None, open_counts={}, pointers=pointers, today=TODAY
        )
        assert result.owner_id is not None and result.pool is not None
        pointers[result.pool] = result.owner_id
        picked.append(result.owner_id)
    assert picked == ["11", "12", "11", "12"]


def test_an_owner_at_their_cap_is_skipped() -> None:
    result = assign(
        config(),
        {"country": "CH"},
        crm_owner=None,
        open_counts={"11": 2},
        pointers={"dach": "12"},
        today=TODAY,
    )
    assert result.owner_id == "12"


def test_away_owners_are_skipped_and_the_default_pool_takes_over() -> None:
    result = assign(
        config(), {"employees": 5000}, crm_owner=None, open_counts={}, pointers={}, today=TODAY
    )
    assert result.pool == "default"
    assert result.owner_id == "12"


def test_away_until_ends_after_that_day() -> None:
    cfg = config(
        owners=[{"id": "21", "pools": ["default"], "away_until": "2026-11-23"}],
        territories=[],
    )
    away = assign(cfg, {}, crm_owner=None, open_counts={}, pointers={}, today=TODAY)
    back = assign(cfg, {}, crm_owner=None, open_counts={}, pointers={}, today=date(2026, 11, 24))
    assert (away.owner_id, away.source) == (None, "none")
    assert "away" in away.why
    assert back.owner_id == "21"


def test_nobody_free_leaves_it_unassigned_with_the_reason() -> None:
    result = assign(
        config(),
        {"country": "DE"},
        crm_owner=None,
        open_counts={"11": 2, "12": 9, "21": 9},
        pointers={},
        today=TODAY,
    )
    assert result.owner_id == "12"  # Ben has no cap
    capped = config(owners=[{"id": "11", "pools": ["dach", "default"], "cap": 1}], territories=[])
    none = assign(capped, {}, crm_owner=None, open_counts={"11": 1}, pointers={}, today=TODAY)
    assert none.owner_id is None and "cap" in none.why


def test_territory_tests() -> None:
    assert matches(["de", "AT"], "DE")
    assert not matches(["DE"], None)
    assert matches({"min": 50, "max": 200}, "120")
    assert not matches({"min": 50}, "many")
    cfg = config()
    assert territory_pool(cfg.territories, {"employees": 1000, "country": "DE"}) == "enterprise"
    assert territory_pool(cfg.territories, {"country": "FR"}) is None
