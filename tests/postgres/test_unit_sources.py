"""tests/unit/test_sources.py on PostgreSQL: the on-conflict insert of decided sources."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smarketing_sync.store.db import Store

from .reuse import reusable_parts, unit_module

unit = unit_module("test_sources")
globals().update(reusable_parts(unit, except_=set()))


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    s = Store.open(pg_url, now=lambda: unit.T0 + 30 * unit.DAY)
    yield s
    s.dispose()
