"""Each hand-off's SLA clocks, and compliance over a window, for ``handoffs`` and ``status``.

A clock stops at its event (decision: accepted or rejected — a conversion counts as an accept;
first touch: the owner's first call, email or meeting). A hand-off that closed (converted,
recycled) before a clock's event stops that clock as *missed*, but it is no open breach: nothing
is left for sales to do (docs/kpis.md, decision 7). A clock is *breached* when its stop (or now,
while it runs) is after its due time.
A hand-off is *evaluable* for a clock when the clock stopped or its due time has passed
(KPIS §2D); the others are pending and stay out of the compliance rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from smarketing_sync.handoff.calendar import BusinessCalendar
from smarketing_sync.settings import Settings
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import customers, handoffs


@dataclass(frozen=True, slots=True)
class Clock:
    due_at: datetime
    stopped_at: datetime | None
    used_bh: float  # business hours from the hand-off to the stop (or now)
    breached: bool
    evaluable: bool
    #: the hand-off closed (converted, recycled) before this clock's event ever happened: the
    #: clock stops there and counts as missed, but it is no open breach (docs/kpis.md)
    closed_without: bool = False

    @property
    def running(self) -> bool:
        return self.stopped_at is None


@dataclass(frozen=True, slots=True)
class HandoffView:
    id: int
    key: str
    customer_id: int
    email: str | None
    state: str
    reason: str | None
    owner_id: str | None
    owner_name: str
    owner_source: str | None
    team: str | None
    handed_over_at: datetime
    decision: Clock
    touch: Clock
    create_status: str
    crm_object_id: str | None
    crm_facts: dict[str, Any]  # what the CRM said at the last read: why the state is what it is
    last_error: str | None

    @property
    def breached(self) -> bool:
        return self.decision.breached or self.touch.breached

    def as_dict(self) -> dict[str, Any]:
        def clock(c: Clock) -> dict[str, Any]:
            return {
                "due_at": c.due_at.isoformat(),
                "stopped_at": c.stopped_at.isoformat() if c.stopped_at else None,
                "business_hours": round(c.used_bh, 2),
                "breached": c.breached,
                "closed_without": c.closed_without,
            }

        return {
            "id": self.id,
            "key": self.key,
            "customer_id": self.customer_id,
            "email": self.email,
            "state": self.state,
            "reason": self.reason,
            "owner": {"id": self.owner_id, "name": self.owner_name, "source": self.owner_source},
            "team": self.team,
            "handed_over_at": self.handed_over_at.isoformat(),
            "decision": clock(self.decision),
            "first_touch": clock(self.touch),
            "crm": {
                "status": self.create_status,
                "object_id": self.crm_object_id,
                "facts": self.crm_facts,
            },
            "last_error": self.last_error,
        }


def _clock(
    calendar: BusinessCalendar,
    start: datetime,
    due: datetime,
    stop: datetime | None,
    now: datetime,
    closed_at: datetime | None = None,
) -> Clock:
    if stop is None and closed_at is not None:
        return Clock(due, closed_at, calendar.diff(start, closed_at), True, True, True)
    end = stop or now
    return Clock(
        due_at=due,
        stopped_at=stop,
        used_bh=calendar.diff(start, end),
        breached=end > due,
        evaluable=stop is not None or due <= now,
    )


def load_views(
    store: Store,
    settings: Settings,
    *,
    states: Sequence[str] | None = None,
    owner: str | None = None,
    since: datetime | None = None,
) -> list[HandoffView]:
    """Hand-offs (newest first) with their clocks at ``store.now()``."""
    names = {o.id: o.name for o in settings.handoff.owners}
    owner_id = owner
    if owner is not None:
        by_name = {o.name.casefold(): o.id for o in settings.handoff.owners if o.name}
        owner_id = by_name.get(owner.casefold(), owner)
    calendars: dict[str, BusinessCalendar] = {}
    query = sa.select(handoffs, customers.c.email).join(
        customers, customers.c.id == handoffs.c.customer_id
    )
    if states:
        query = query.where(handoffs.c.state.in_(list(states)))
    if owner_id is not None:
        query = query.where(handoffs.c.owner_id == owner_id)
    if since is not None:
        query = query.where(handoffs.c.handed_over_at >= since)
    query = query.order_by(handoffs.c.handed_over_at.desc(), handoffs.c.id.desc())
    views: list[HandoffView] = []
    with store.read() as conn:
        now = store.now()
        for row in conn.execute(query):
            team = row.team if row.team in settings.sla.teams else settings.sla.default_team
            if team not in calendars:
                calendars[team] = BusinessCalendar.from_settings(settings.sla.team(team))
            calendar = calendars[team]
            closed = row.outcome_at if row.state in ("converted", "recycled") else None
            views.append(
                HandoffView(
                    id=row.id,
                    key=row.key,
                    customer_id=row.customer_id,
                    email=row.email,
                    state=row.state,
                    reason=row.reason,
                    owner_id=row.owner_id,
                    owner_name=names.get(row.owner_id or "", ""),
                    owner_source=row.owner_source,
                    team=row.team,
                    handed_over_at=row.handed_over_at,
                    decision=_clock(
                        calendar,
                        row.handed_over_at,
                        row.decision_due_at,
                        row.decided_at,
                        now,
                        closed,
                    ),
                    touch=_clock(
                        calendar,
                        row.handed_over_at,
                        row.touch_due_at,
                        row.first_touch_at,
                        now,
                        closed,
                    ),
                    create_status=row.create_status,
                    crm_object_id=row.crm_object_id,
                    crm_facts=dict(row.facts or {}),
                    last_error=row.last_error,
                )
            )
    return views


def _rate(met: int, evaluable: int) -> float | None:
    return round(met / evaluable, 4) if evaluable else None


def compliance(store: Store, settings: Settings, *, days: int = 30) -> dict[str, Any]:
    """SLA compliance of the hand-offs of the last ``days`` days (``status``)."""
    since = store.now() - timedelta(days=days)
    views = load_views(store, settings, since=since)
    decision = [v for v in views if v.decision.evaluable]
    touch = [v for v in views if v.touch.evaluable]
    decided_in_time = sum(1 for v in decision if not v.decision.breached)
    touched_in_time = sum(1 for v in touch if not v.touch.breached)
    open_breaches = [v for v in views if v.breached and (v.decision.running or v.touch.running)]
    return {
        "days": days,
        "handoffs": len(views),
        "decision": {
            "evaluable": len(decision),
            "met": decided_in_time,
            "rate": _rate(decided_in_time, len(decision)),
            "within_h": settings.sla.decision_within_h,
        },
        "first_touch": {
            "evaluable": len(touch),
            "met": touched_in_time,
            "rate": _rate(touched_in_time, len(touch)),
            "within_h": settings.sla.first_touch_within_h,
        },
        "pending": sum(1 for v in views if not v.decision.evaluable),
        "open_breaches": len(open_breaches),
        "by_state": {
            state: sum(1 for v in views if v.state == state)
            for state in sorted({v.state for v in views})
        },
    }
