"""tests/unit/test_sla_alerts.py on PostgreSQL: queueing, claiming and delivering alerts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smarketing_sync.store.db import Store

from .reuse import reusable_parts, unit_module

unit = unit_module("test_sla_alerts")
# Its two-daemons test opens a second SQLite store by path: test_alerts.py has the PostgreSQL one.
globals().update(reusable_parts(unit, except_={"test_two_daemons_at_once_send_each_alert_once"}))


@pytest.fixture
def store(pg_url: str, clock: unit.Clock) -> Iterator[Store]:  # type: ignore[name-defined]
    s = Store.open(pg_url, now=clock)
    yield s
    s.dispose()
