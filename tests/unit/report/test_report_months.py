"""Month buckets and ranges in the reporting time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from smarketing_sync.errors import ConfigError
from smarketing_sync.report.kpis.months import (
    bounds,
    default_range,
    is_full,
    month_of,
    months_between,
    parse_month,
    shift,
)

BERLIN = ZoneInfo("Europe/Berlin")


def test_an_event_late_on_the_last_utc_day_belongs_to_the_next_berlin_month() -> None:
    at = datetime(2025, 1, 31, 23, 30, tzinfo=UTC)
    assert month_of(at, BERLIN) == "2025-02"
    assert month_of(at, ZoneInfo("UTC")) == "2025-01"


def test_bounds_are_local_midnights_in_utc_across_dst() -> None:
    # March 2025 starts in CET (+1) and ends in CEST (+2)
    start, end = bounds("2025-03", BERLIN)
    assert start == datetime(2025, 2, 28, 23, tzinfo=UTC)
    assert end == datetime(2025, 3, 31, 22, tzinfo=UTC)


def test_default_range_is_the_last_three_full_months() -> None:
    as_of = datetime(2025, 3, 10, 12, tzinfo=UTC)
    assert default_range(as_of, BERLIN) == ["2024-12", "2025-01", "2025-02"]
    assert is_full("2025-02", as_of, BERLIN)
    assert not is_full("2025-03", as_of, BERLIN)


def test_shift_and_between_cross_year_ends() -> None:
    assert shift("2025-01", -1) == "2024-12"
    assert shift("2024-12", 13) == "2026-01"
    assert months_between("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]


def test_bad_months_say_what_was_expected() -> None:
    with pytest.raises(ConfigError, match=r"--from: expected a month as YYYY-MM.*'2025-13'"):
        parse_month("2025-13", what="--from")
    with pytest.raises(ConfigError, match="--to 2024-01 is before --from 2024-03"):
        months_between("2024-03", "2024-01")
