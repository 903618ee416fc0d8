"""Identity resolution, per-field claims and echo suppression, on a real (temporary) store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync.flow.resolve import apply_contacts
from smarketing_sync.flow.survivorship import NEVER, Survivorship
from smarketing_sync.mapping.model import MappedContact
from smarketing_sync.settings import ResolveSettings
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import claims, customers, identities, links, pushed

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'store.db'}", now=lambda: T0)
    yield s
    s.dispose()


def contact(connector: str, ext: str, minutes: int, **fields: Any) -> MappedContact:
    email = fields.get("email")
    return MappedContact(
        connector=connector,
        stream="contacts",
        external_id=ext,
        updated_at=T0 + timedelta(minutes=minutes),
        identity={"email": email} if email else {},
        fields=fields,
    )


def apply(
    store: Store, connector: str, *records: MappedContact, rules: ResolveSettings | None = None
) -> Any:
    with store.begin() as conn:
        return apply_contacts(
            conn, connector, list(records), Survivorship(rules or ResolveSettings()), T0
        )


def golden(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [dict(r.golden) for r in conn.execute(sa.select(customers).order_by(customers.c.id))]


def test_same_email_in_two_tools_is_one_customer(store: Store) -> None:
    apply(store, "hubspot", contact("hubspot", "h1", 0, email="ana@x.example", first_name="Ana"))
    stats = apply(
        store, "pipedrive", contact("pipedrive", "p9", 1, email="ana@x.example", company="X")
    )
    assert stats.matched == 1 and stats.created == 0
    assert golden(store) == [{"email": "ana@x.example", "first_name": "Ana", "company": "X"}]
    with store.read() as conn:
        assert {(r.connector, r.external_id) for r in conn.execute(sa.select(links))} == {
            ("hubspot", "h1"),
            ("pipedrive", "p9"),
        }


def test_email_change_keeps_the_link_and_adds_the_identity(store: Store) -> None:
    apply(store, "hubspot", contact("hubspot", "h1", 0, email="old@x.example"))
    stats = apply(store, "hubspot", contact("hubspot", "h1", 5, email="new@x.example"))
    assert stats.created == 0 and stats.linked == 1
    assert golden(store) == [{"email": "new@x.example"}]
    with store.read() as conn:
        owned = {r.value for r in conn.execute(sa.select(identities))}
    assert owned == {"old@x.example", "new@x.example"}
    # The other tool still has the old address: it is the same person, not a duplicate.
    stats = apply(store, "pipedrive", contact("pipedrive", "p1", 6, email="old@x.example"))
    assert stats.matched == 1
    assert len(golden(store)) == 1


def test_most_recent_field_wins_and_untouched_fields_keep_their_time(store: Store) -> None:
    apply(
        store,
        "hubspot",
        contact("hubspot", "h1", 0, email="a@x.example", company="Old", city="Rome"),
    )
    apply(store, "pipedrive", contact("pipedrive", "p1", 10, email="a@x.example", company="New"))
    assert golden(store)[0]["company"] == "New"
    # HubSpot's record changes later, but its company value did not: New must survive.
    apply(
        store,
        "hubspot",
        contact("hubspot", "h1", 20, email="a@x.example", company="Old", city="Oslo"),
    )
    assert golden(store)[0] == {"email": "a@x.example", "company": "New", "city": "Oslo"}


def test_blank_in_a_tool_that_never_had_the_value_does_not_erase_it(store: Store) -> None:
    apply(store, "hubspot", contact("hubspot", "h1", 0, email="a@x.example", phone="+4930123"))
    apply(store, "pipedrive", contact("pipedrive", "p1", 10, email="a@x.example", phone=None))
    assert golden(store)[0]["phone"] == "+4930123"
    with store.read() as conn:
        blank = conn.execute(
            sa.select(claims).where(claims.c.connector == "pipedrive", claims.c.field == "phone")
        ).one()
    assert blank.changed_at == NEVER


def test_echo_of_our_write_is_not_a_change(store: Store) -> None:
    apply(store, "hubspot", contact("hubspot", "h1", 0, email="a@x.example", job_title="CTO"))
    apply(store, "pipedrive", contact("pipedrive", "p1", 1, email="a@x.example", job_title="Dev"))
    assert golden(store)[0]["job_title"] == "Dev"
    cid = 1
    # Pretend we pushed "Dev" (changed at minute 1 in pipedrive) to hubspot's jobtitle.
    with store.begin() as conn:
        conn.execute(
            pushed.insert().values(
                connector="hubspot",
                customer_id=cid,
                field="jobtitle",
                value="Dev",
                source="job_title",
                source_value="Dev",
                source_changed_at=T0 + timedelta(minutes=1),
                pushed_at=T0,
            )
        )
    stats = apply(
        store, "hubspot", contact("hubspot", "h1", 30, email="a@x.example", job_title="Dev")
    )
    assert stats.echoes == 1 and stats.updated == 0
    with store.read() as conn:
        claim = conn.execute(
            sa.select(claims).where(claims.c.connector == "hubspot", claims.c.field == "job_title")
        ).one()
    assert claim.changed_at == T0 + timedelta(minutes=1)


def test_human_edit_after_our_write_drops_the_pushed_marker(store: Store) -> None:
    apply(store, "hubspot", contact("hubspot", "h1", 0, email="a@x.example", job_title="CTO"))
    with store.begin() as conn:
        conn.execute(
            pushed.insert().values(
                connector="hubspot",
                customer_id=1,
                field="jobtitle",
                value="CTO",
                source="job_title",
                source_value="CTO",
                source_changed_at=T0,
                pushed_at=T0,
            )
        )
    apply(store, "hubspot", contact("hubspot", "h1", 9, email="a@x.example", job_title="CEO"))
    with store.read() as conn:
        assert conn.execute(sa.select(pushed)).all() == []
    assert golden(store)[0]["job_title"] == "CEO"


def test_precedence_rule_from_config(store: Store) -> None:
    rules = ResolveSettings(fields={"company": {"rule": "precedence", "order": ["pipedrive"]}})  # type: ignore[dict-item]
    apply(
        store,
        "pipedrive",
        contact("pipedrive", "p1", 0, email="a@x.example", company="CRM Co"),
        rules=rules,
    )
    apply(
        store,
        "hubspot",
        contact("hubspot", "h1", 50, email="a@x.example", company="MA Co"),
        rules=rules,
    )
    assert golden(store)[0]["company"] == "CRM Co"


def test_same_person_twice_on_one_page(store: Store) -> None:
    stats = apply(
        store,
        "hubspot",
        contact("hubspot", "h1", 0, email="a@x.example"),
        contact("hubspot", "h2", 0, email="a@x.example"),
    )
    assert stats.created == 1 and stats.matched == 1
    assert len(golden(store)) == 1


def test_identity_conflict_is_counted_not_merged(store: Store) -> None:
    apply(
        store,
        "hubspot",
        contact("hubspot", "h1", 0, email="a@x.example"),
        contact("hubspot", "h2", 0, email="b@x.example"),
    )
    stats = apply(store, "hubspot", contact("hubspot", "h2", 5, email="a@x.example"))
    assert stats.conflicts == 1
    assert len(golden(store)) == 2


def test_tombstone_marks_the_link(store: Store) -> None:
    apply(store, "hubspot", contact("hubspot", "h1", 0, email="a@x.example"))
    gone = MappedContact(
        "hubspot",
        "contacts",
        "h1",
        T0 + timedelta(minutes=3),
        {"email": "a@x.example"},
        {},
        deleted=True,
    )
    stats = apply(store, "hubspot", gone)
    assert stats.deleted == 1
    with store.read() as conn:
        assert conn.execute(sa.select(links.c.deleted_at)).scalar_one() is not None


def test_date_values_are_stored_as_iso_and_compare_equal(store: Store) -> None:
    from datetime import date

    first = apply(
        store,
        "hubspot",
        contact("hubspot", "h1", 0, email="a@x.example", birthday=date(1990, 5, 17)),
    )
    assert first.created == 1
    again = apply(
        store,
        "hubspot",
        contact("hubspot", "h1", 5, email="a@x.example", birthday=date(1990, 5, 17)),
    )
    assert again.updated == 0
    assert golden(store)[0]["birthday"] == "1990-05-17"
