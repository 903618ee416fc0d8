"""SLA clocks: the cached "business hours until as_of" equals the calendar's own diff."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from smarketing_sync.handoff.calendar import BusinessCalendar
from smarketing_sync.report.kpis.sla import HoursUntil


def test_hours_until_matches_calendar_diff_across_weekends_holidays_and_dst() -> None:
    calendar = BusinessCalendar(zone="Europe/Berlin", holiday_country="DE", holiday_subdiv="BY")
    end = datetime(2025, 4, 2, 13, 17, tzinfo=UTC)  # after the switch to summer time
    until = HoursUntil(calendar, end)
    rng = random.Random(3)
    starts = [end - timedelta(hours=rng.uniform(0, 24 * 150)) for _ in range(200)]
    starts += [datetime(2024, 12, 24, 15, tzinfo=UTC), end, end + timedelta(hours=1)]
    for start in starts:
        expected = calendar.diff(start, end) if start < end else 0.0
        assert abs(until(start) - expected) < 1e-6, start
