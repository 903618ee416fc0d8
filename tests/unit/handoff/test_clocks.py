"""SLA clocks of one hand-off: stopped, running, breached, closed without the event."""

from __future__ import annotations

from datetime import UTC, datetime

from smarketing_sync.handoff.calendar import BusinessCalendar
from smarketing_sync.handoff.clocks import _clock

BERLIN = BusinessCalendar(zone="Europe/Berlin")
MON_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
DUE = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # Monday 17:00: 8 business hours


def test_met_in_time() -> None:
    clock = _clock(BERLIN, MON_9, DUE, datetime(2026, 11, 23, 10, 30, tzinfo=UTC), DUE)
    assert (clock.breached, clock.evaluable, clock.running) == (False, True, False)
    assert clock.used_bh == 2.5


def test_running_past_due_is_an_open_breach_counted_in_business_hours() -> None:
    tuesday_11 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # Tue 11:00 Berlin
    clock = _clock(BERLIN, MON_9, DUE, None, tuesday_11)
    assert (clock.breached, clock.evaluable, clock.running) == (True, True, True)
    assert clock.used_bh == 10.0  # Mon 9-17 (8) + Tue 9-11 (2), the night does not count


def test_pending_before_due_is_not_evaluable() -> None:
    clock = _clock(BERLIN, MON_9, DUE, None, datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    assert (clock.breached, clock.evaluable) == (False, False)


def test_closed_without_the_event_is_missed_but_not_running() -> None:
    closed = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clock = _clock(BERLIN, MON_9, DUE, None, DUE, closed_at=closed)
    assert (clock.breached, clock.evaluable, clock.running, clock.closed_without) == (
        True,
        True,
        False,
        True,
    )
