"""K9 SLA: S1 decision and S2 first touch within N/M business hours, S3 medians, S4/S5 breaches.

A hand-off is *evaluable* for a clock when the clock stopped (decided / touched) or its due time
is ≤ ``as_of``; otherwise it is pending and left out of the denominator (KPIS §2D). A rejection
with a reason is a timely decision (decision 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from smarketing_sync.handoff.calendar import BusinessCalendar
from smarketing_sync.report.facts import Handoff
from smarketing_sync.report.kpis.context import Context

CLOCKS = ("decision", "first_touch")


@dataclass(slots=True)
class Clock:
    handoff: Handoff
    clock: str  # decision | first_touch
    due: datetime
    stopped_at: datetime | None  # decided / first touched, ≤ as_of
    evaluable: bool
    met: bool
    business_hours: float | None  # handed over → stopped, on the team calendar
    overdue_bh: float | None  # open breaches: business hours past due at as_of

    @property
    def open_breach(self) -> bool:
        """Past due, not done, and still sales' move: a rejected or closed hand-off needs no
        first touch any more, so it counts as missed in S2 but is not an open breach."""
        h = self.handoff
        closed = h.decision == "rejected" or h.outcome is not None
        return self.stopped_at is None and self.evaluable and not closed


class HoursUntil:
    """Business hours from any time to one fixed end (``as_of``), with the whole days in between
    summed once per calendar: a breach open for months costs one lookup, not a walk."""

    def __init__(self, calendar: BusinessCalendar, end: datetime) -> None:
        self.calendar = calendar
        self.end = end
        self.zone = calendar.zone
        self._from_day: dict[date, float] = {}  # business hours from local midnight to end

    def __call__(self, start: datetime) -> float:
        if start >= self.end:
            return 0.0
        midnight = self._midnight(start.astimezone(self.zone).date() + timedelta(days=1))
        if midnight >= self.end:
            return self.calendar.diff(start, self.end)
        return self.calendar.diff(start, midnight) + self._hours_from(midnight)

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)

    def _hours_from(self, midnight: datetime) -> float:
        day = midnight.astimezone(self.zone).date()
        pending: list[tuple[date, float]] = []
        total = 0.0
        while day not in self._from_day:
            start = self._midnight(day)
            following = self._midnight(day + timedelta(days=1))
            if following >= self.end:
                total = self.calendar.diff(start, self.end)
                self._from_day[day] = total
                break
            pending.append((day, self.calendar.diff(start, following)))
            day += timedelta(days=1)
        total = self._from_day[day]
        for earlier, hours in reversed(pending):
            total += hours
            self._from_day[earlier] = total
        return self._from_day[midnight.astimezone(self.zone).date()]


def clocks(ctx: Context, handoffs: list[Handoff]) -> list[Clock]:
    out = []
    sla = ctx.options.sla
    until: dict[int, HoursUntil] = {}
    for h in handoffs:
        calendar = ctx.calendar(h.team)
        overdue = until.setdefault(id(calendar), HoursUntil(calendar, ctx.as_of))
        for name in CLOCKS:
            if name == "decision":
                due = h.decision_due_at or calendar.add(h.handed_over_at, sla.decision_within_h)
                stopped = h.decided_at
            else:
                due = h.touch_due_at or calendar.add(h.handed_over_at, sla.first_touch_within_h)
                stopped = h.first_touch_at
            evaluable = stopped is not None or due <= ctx.as_of
            out.append(
                Clock(
                    handoff=h,
                    clock=name,
                    due=due,
                    stopped_at=stopped,
                    evaluable=evaluable,
                    met=stopped is not None and stopped <= due,
                    business_hours=(
                        None if stopped is None else calendar.diff(h.handed_over_at, stopped)
                    ),
                    overdue_bh=overdue(due) if stopped is None and due <= ctx.as_of else None,
                )
            )
    return out


def met_rate(checks: list[Clock], clock: str) -> tuple[float | None, int, int]:
    """(met ÷ evaluable, met, evaluable) for one clock."""
    evaluable = [c for c in checks if c.clock == clock and c.evaluable]
    met = sum(1 for c in evaluable if c.met)
    return (met / len(evaluable) if evaluable else None), met, len(evaluable)


def accepted_within(checks: list[Clock]) -> tuple[float | None, int, int]:
    """S1b: only accepts count as met."""
    evaluable = [c for c in checks if c.clock == "decision" and c.evaluable]
    met = sum(1 for c in evaluable if c.met and c.handoff.decision == "accepted")
    return (met / len(evaluable) if evaluable else None), met, len(evaluable)
