"""The KPI report from a PostgreSQL store: the hand-computed story of
tests/integration/test_report_store.py, written into PostgreSQL, gives the facts file's report
(store_facts.py's PostgreSQL path; SQLite takes a raw fast path)."""

from __future__ import annotations

from datetime import UTC, datetime

from integration.test_report_store import FIXTURE, NOW, _options, fill_store, raw

from smarketing_sync.report.build import build_report
from smarketing_sync.report.facts import facts_from_file, load_facts
from smarketing_sync.store.db import Store

__all__ = ["raw"]  # the fixture, imported for pytest


def test_postgres_store_and_file_give_the_same_report(pg_url: str, raw: dict) -> None:  # type: ignore[type-arg]
    from_file = facts_from_file(FIXTURE)
    options = _options(from_file)
    store = fill_store(Store.open(pg_url, now=lambda: NOW), raw, options)
    try:
        from_store = load_facts(store, from_file.as_of, sla_touch_types=options.sla.touch_types)
    finally:
        store.dispose()
    assert {h.id: h.first_touch_at for h in from_store.handoffs} == {
        h.id: h.first_touch_at for h in from_file.handoffs
    }
    # every time read back is aware UTC, as on SQLite
    assert all(
        h.handed_over_at.tzinfo == UTC and isinstance(h.handed_over_at, datetime)
        for h in from_store.handoffs
    )
    got = build_report(from_store, options).data
    assert got == build_report(from_file, options).data
    assert got["range"]["won_revenue_total"] == 36500.0  # the hand-computed figure
    assert "C-OPENS" not in got["campaigns"] and "C-DELETED" not in got["campaigns"]
