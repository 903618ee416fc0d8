"""Touches derived from contact analytics: stable ids, idempotent, history accumulates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync.flow.touches import DERIVED_CONNECTOR, derive_touches, touches_of
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import activities, customers
from smarketing_sync.store.state import next_rev

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
HUBSPOT = ["hubspot", "2026-03-01T12:00:00+00:00"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'store.db'}", now=lambda: T0 + 30 * DAY)
    yield s
    s.dispose()


def analytics(**overrides: Any) -> dict[str, Any]:
    golden: dict[str, Any] = {
        "email": "ada@example.com",
        "lead_source": "PAID_SEARCH",
        "lead_source_detail": "C-ADS",
        "first_seen": "2026-02-10T09:30:00.250000+00:00",
        "first_conversion": "C-WEB",
        "first_conversion_at": "2026-02-12T10:00:00+00:00",
        "recent_conversion": "C-WEB",
        "recent_conversion_at": "2026-02-12T10:00:00+00:00",
    }
    golden.update(overrides)
    return golden


def add_customer(store: Store, golden: dict[str, Any]) -> int:
    provenance = {name: HUBSPOT for name in golden}
    with store.begin() as conn:
        key = conn.execute(
            customers.insert().values(
                email=golden.get("email"), golden=golden, provenance=provenance,
                rev=next_rev(conn), created_at=T0, updated_at=T0,
            )
        ).inserted_primary_key  # fmt: skip
    assert key is not None
    return int(key[0])


def set_golden(store: Store, cid: int, golden: dict[str, Any]) -> None:
    with store.begin() as conn:
        conn.execute(
            customers.update()
            .where(customers.c.id == cid)
            .values(golden=golden, rev=next_rev(conn))
        )


def touches(store: Store) -> dict[str, dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(
            sa.select(activities).where(activities.c.connector == DERIVED_CONNECTOR)
        )
        return {r.external_id: r._asdict() for r in rows}


def test_first_visit_and_first_conversion_become_touches(store: Store) -> None:
    cid = add_customer(store, analytics())
    assert derive_touches(store) == 2
    got = touches(store)
    assert set(got) == {f"{cid}:first_visit", f"{cid}:conversion:2026-02-12T10:00:00.000Z"}
    visit = got[f"{cid}:first_visit"]
    assert visit["type"] == "page_view"
    assert visit["customer_id"] == cid
    assert visit["occurred_at"] == datetime(2026, 2, 10, 9, 30, 0, 250000, tzinfo=UTC)
    assert visit["fields"] == {
        "touch": "first_visit",
        "campaign": "C-ADS",
        "channel": "PAID_SEARCH",
        "origin": "hubspot",
    }
    conversion = got[f"{cid}:conversion:2026-02-12T10:00:00.000Z"]
    assert conversion["type"] == "form_submission"
    assert conversion["fields"]["campaign"] == "C-WEB"
    assert conversion["fields"]["channel"] == "PAID_SEARCH"


def test_a_rerun_writes_nothing(store: Store) -> None:
    add_customer(store, analytics())
    derive_touches(store)
    assert derive_touches(store) == 0
    # Even a full re-read of every customer finds nothing to change.
    assert derive_touches(store, full=True) == 0
    assert len(touches(store)) == 2


def test_each_new_recent_conversion_adds_a_row_and_history_stays(store: Store) -> None:
    cid = add_customer(store, analytics())
    derive_touches(store)
    set_golden(
        store,
        cid,
        analytics(recent_conversion="C-WEBINAR", recent_conversion_at="2026-03-05T16:00:00Z"),
    )
    assert derive_touches(store) == 1
    set_golden(
        store,
        cid,
        analytics(recent_conversion="C-ADS", recent_conversion_at="2026-04-01T08:00:00Z"),
    )
    assert derive_touches(store) == 1
    got = touches(store)
    conversions = sorted(k for k in got if ":conversion:" in k)
    assert conversions == [
        f"{cid}:conversion:2026-02-12T10:00:00.000Z",
        f"{cid}:conversion:2026-03-05T16:00:00.000Z",
        f"{cid}:conversion:2026-04-01T08:00:00.000Z",
    ]
    webinar = got[f"{cid}:conversion:2026-03-05T16:00:00.000Z"]
    assert webinar["fields"]["campaign"] == "C-WEBINAR"
    assert webinar["fields"]["channel"] is None  # what brought them back is not known


def test_a_reprocessed_first_visit_moves_the_same_row(store: Store) -> None:
    cid = add_customer(store, analytics())
    derive_touches(store)
    set_golden(store, cid, analytics(first_seen="2026-02-01T00:00:00+00:00"))
    assert derive_touches(store) == 1
    visit = touches(store)[f"{cid}:first_visit"]
    assert visit["occurred_at"] == datetime(2026, 2, 1, tzinfo=UTC)
    assert len(touches(store)) == 2


def test_people_without_analytics_get_no_touches(store: Store) -> None:
    add_customer(store, {"email": "rep@example.com", "lead_source": "OFFLINE"})
    add_customer(store, {"email": "bad@example.com", "first_seen": "not a date"})
    assert derive_touches(store) == 0
    assert touches(store) == {}


def test_only_changed_customers_are_read(store: Store) -> None:
    first = add_customer(store, analytics())
    derive_touches(store)
    with store.begin() as conn:  # a touch removed by hand is not re-read without a change
        conn.execute(activities.delete())
    assert derive_touches(store) == 0
    set_golden(store, first, analytics(email="ada@new.example"))
    assert derive_touches(store) == 2


def test_touches_of_keeps_distinct_conversions_apart() -> None:
    golden = analytics(recent_conversion="C-WEBINAR", recent_conversion_at="2026-03-05T16:00:00Z")
    got = touches_of(7, golden, {})
    assert [t.external_id for t in got] == [
        "7:first_visit",
        "7:conversion:2026-02-12T10:00:00.000Z",
        "7:conversion:2026-03-05T16:00:00.000Z",
    ]
    assert all(t.fields["origin"] is None for t in got)  # no provenance given
