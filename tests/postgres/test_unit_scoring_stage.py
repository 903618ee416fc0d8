"""tests/unit/test_scoring_stage.py on PostgreSQL: the whole score stage, JSON and epoch reads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smarketing_sync.store.db import Store

from .reuse import reusable_parts, unit_module

unit = unit_module("test_scoring_stage")
globals().update(reusable_parts(unit, except_=set()))


@pytest.fixture
def store(pg_url: str, clock: unit.Clock) -> Iterator[Store]:  # type: ignore[name-defined]
    s = Store.open(pg_url, now=clock)
    yield s
    s.dispose()
