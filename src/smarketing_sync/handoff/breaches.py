"""SLA breaches: each clock of each hand-off alerts once per target, then escalates."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import structlog

from smarketing_sync.handoff import alerts as alert_queue
from smarketing_sync.handoff.context import Context, calendar, person_name
from smarketing_sync.handoff.states import OPEN
from smarketing_sync.settings import AlertTarget
from smarketing_sync.store.schema import customers, handoffs

log = structlog.get_logger("smarketing_sync.sla")


def check_sla(ctx: Context) -> int:
    """Queue one alert per breach and target, and escalations; returns alerts queued."""
    alerts = ctx.sla.alerts
    queued = 0
    with ctx.store.begin() as conn:
        now = ctx.store.now()
        rows = conn.execute(
            sa.select(handoffs, customers.c.golden)
            .join(customers, customers.c.id == handoffs.c.customer_id)
            .where(
                sa.or_(
                    sa.and_(handoffs.c.state == "handed_over", handoffs.c.decision_due_at <= now),
                    sa.and_(
                        handoffs.c.state.in_(OPEN),
                        handoffs.c.first_touch_at.is_(None),
                        handoffs.c.touch_due_at <= now,
                    ),
                )
            )
        ).all()
        names = {o.id: o.name for o in ctx.config.owners}
        for row in rows:
            clock_of = calendar(ctx, row.team)
            clocks: list[tuple[alert_queue.Clock, datetime]] = []
            if row.state == "handed_over" and row.decision_due_at <= now:
                clocks.append(("decision", row.decision_due_at))
            if row.first_touch_at is None and row.touch_due_at <= now:
                clocks.append(("first_touch", row.touch_due_at))
            for clock, due in clocks:
                overdue = clock_of.diff(due, now)
                levels: list[tuple[alert_queue.Level, list[AlertTarget]]] = [
                    ("breach", alerts.targets)
                ]
                if overdue >= alerts.escalate_after_h:
                    levels.append(("escalation", alerts.escalate_to))
                for level, targets in levels:
                    info = alert_queue.BreachInfo(
                        handoff_id=row.id,
                        key=row.key,
                        customer_id=row.customer_id,
                        email=row.golden.get("email"),
                        name=person_name(row.golden),
                        owner_id=row.owner_id,
                        owner_name=names.get(row.owner_id or "", ""),
                        clock=clock,
                        level=level,
                        handed_over_at=row.handed_over_at,
                        due_at=due,
                        overdue_bh=round(overdue, 2),
                        team=row.team,
                        crm=row.crm,
                        crm_object_id=row.crm_object_id,
                        state=row.state,
                        timezone=ctx.sla.team(row.team).timezone,
                    )
                    added = alert_queue.queue_alerts(conn, info, targets, now)
                    if added and level == "breach":
                        log.warning(
                            "sla.breach",
                            key=row.key,
                            clock=clock,
                            owner=row.owner_id,
                            overdue_bh=round(overdue, 2),
                        )
                    queued += added
    ctx.stats.breaches += queued
    return queued
