"""Open hand-offs: one per new MQL entry, with an owner and its SLA due times."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from smarketing_sync.handoff.assign import assign
from smarketing_sync.handoff.context import Context, calendar, event, feedback
from smarketing_sync.handoff.states import OPEN
from smarketing_sync.store.schema import claims, customers, handoffs, meta, scores, stage_history

log = structlog.get_logger("smarketing_sync.handoff")


def open_new(ctx: Context) -> int:
    """Open one hand-off per new MQL entry; returns how many were opened."""
    with ctx.store.begin() as conn:
        now = ctx.store.now()
        since = _enabled_at(ctx, conn, now)
        latest = (
            sa.select(
                stage_history.c.customer_id,
                sa.func.max(stage_history.c.id).label("entry"),
            )
            .where(stage_history.c.stage == "mql", stage_history.c.entered_at >= since)
            .group_by(stage_history.c.customer_id)
            .subquery()
        )
        candidates = conn.execute(
            sa.select(latest.c.customer_id, latest.c.entry, scores.c.value, scores.c.model_version)
            .join(scores, scores.c.customer_id == latest.c.customer_id)
            .where(scores.c.stage == "mql")
        ).all()
        if not candidates:
            return 0
        ids = [c.customer_id for c in candidates]
        existing = {
            row.key
            for row in conn.execute(
                sa.select(handoffs.c.key).where(handoffs.c.customer_id.in_(ids))
            )
        }
        open_people = {
            row.customer_id
            for row in conn.execute(
                sa.select(handoffs.c.customer_id).where(
                    handoffs.c.customer_id.in_(ids), handoffs.c.state.in_(OPEN)
                )
            )
        }
        counts: dict[str, int] = dict(
            conn.execute(
                sa.select(handoffs.c.owner_id, sa.func.count())
                .where(handoffs.c.state.in_(OPEN), handoffs.c.owner_id.is_not(None))
                .group_by(handoffs.c.owner_id)
            ).all()
        )
        pointers = _pointers(ctx, conn)
        opened: list[int] = []
        for cand in candidates:
            key = f"handoff:{cand.customer_id}:{cand.entry}"
            if key in existing or cand.customer_id in open_people:
                continue
            entered_at = conn.execute(
                sa.select(stage_history.c.entered_at).where(stage_history.c.id == cand.entry)
            ).scalar_one()
            _open_one(ctx, conn, key, cand, entered_at, counts, pointers, now)
            opened.append(cand.customer_id)
        _save_pointers(ctx, conn, pointers)
        feedback(ctx, conn, opened)
    ctx.stats.opened += len(opened)
    return len(opened)


def _open_one(
    ctx: Context,
    conn: Connection,
    key: str,
    cand: Any,
    entered_at: datetime,
    counts: dict[str, int],
    pointers: dict[str, str],
    now: datetime,
) -> None:
    golden = conn.execute(
        sa.select(customers.c.golden).where(customers.c.id == cand.customer_id)
    ).scalar_one()
    crm_owner = conn.execute(
        sa.select(claims.c.value).where(
            claims.c.customer_id == cand.customer_id,
            claims.c.field == "owner",
            claims.c.connector == ctx.crm.name,
        )
    ).scalar()
    team_default = ctx.sla.default_team
    choice = assign(
        ctx.config,
        golden,
        crm_owner=None if crm_owner is None else str(crm_owner),
        open_counts=counts,
        pointers=pointers,
        today=now.astimezone(ZoneInfo(ctx.sla.team(team_default).timezone)).date(),
    )
    if choice.owner_id is not None:
        counts[choice.owner_id] = counts.get(choice.owner_id, 0) + 1
        if choice.source == "assigned" and choice.pool is not None:
            pointers[choice.pool] = choice.owner_id
    else:
        log.warning("handoff.unassigned", customer_id=cand.customer_id, why=choice.why)
    # The clock starts at the hand-off, not at the MQL entry: a lead that became an MQL
    # while the daemon was down is not overdue before sales could see it.
    start = now
    team_calendar = calendar(ctx, choice.team)
    result = conn.execute(
        handoffs.insert().values(
            key=key,
            customer_id=cand.customer_id,
            crm=ctx.crm.name,
            state="handed_over",
            owner_id=choice.owner_id,
            owner_source=choice.source,
            team=choice.team or ctx.sla.default_team,
            handed_over_at=start,
            decision_due_at=team_calendar.add(start, ctx.sla.decision_within_h),
            touch_due_at=team_calendar.add(start, ctx.sla.first_touch_within_h),
            score=cand.value,
            model_version=cand.model_version,
            crm_object=ctx.config.object,
            create_status="pending",
            create_attempts=0,
            next_attempt_at=start,
            facts={},
            updated_at=now,
        )
    )
    handoff_id = result.inserted_primary_key[0]  # type: ignore[index]
    event(ctx, conn, handoff_id, "handed_over", None, start, f"daemon: {choice.why}")
    log.info(
        "handoff.opened",
        key=key,
        customer_id=cand.customer_id,
        owner=choice.owner_id,
        why=choice.why,
        email=golden.get("email"),
    )


def _enabled_at(ctx: Context, conn: Connection, now: datetime) -> datetime:
    """MQL entries from before hand-offs were switched on are not handed over (no flood
    of old MQLs onto sales when the feature is enabled on a running install)."""
    row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "handoff.enabled_at")).first()
    if row is not None:
        return datetime.fromisoformat(row[0])
    since = now - timedelta(hours=ctx.config.backlog_h)
    conn.execute(meta.insert().values(key="handoff.enabled_at", value=since.isoformat()))
    return since


def _pointers(ctx: Context, conn: Connection) -> dict[str, str]:
    row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "handoff.round_robin")).first()
    return dict(row[0]) if row is not None and isinstance(row[0], dict) else {}


def _save_pointers(ctx: Context, conn: Connection, pointers: dict[str, str]) -> None:
    updated = conn.execute(
        meta.update().where(meta.c.key == "handoff.round_robin").values(value=pointers)
    ).rowcount
    if not updated:
        conn.execute(meta.insert().values(key="handoff.round_robin", value=pointers))
