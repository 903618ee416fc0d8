"""Observe open hand-offs: CRM facts through the state rules, owner touches, the lifecycle."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from smarketing_sync.handoff.context import Context, event, feedback
from smarketing_sync.handoff.states import OPEN, evaluate, person_facts
from smarketing_sync.scoring.model import GOLDEN_KEY
from smarketing_sync.sdk.http import Http
from smarketing_sync.sdk.records import HandoffRef
from smarketing_sync.store.schema import activities, customers, handoffs, scores, stage_history

log = structlog.get_logger("smarketing_sync.handoff")

#: lifecycle stages that mean sales converted the lead (KPIS §1.1: sql and beyond)
CONVERTED_STAGES = ("sql", "opportunity", "customer")
READ_BATCH = 100


async def observe(ctx: Context, http: Http | None) -> int:
    """Move open hand-offs by CRM facts, owner touches and the lifecycle; returns moves."""
    with ctx.store.read() as conn:
        rows = conn.execute(
            sa.select(handoffs).where(handoffs.c.state.in_((*OPEN, "rejected")))
        ).all()
    if not rows:
        return 0
    facts: dict[str, Mapping[str, Any]] = {}
    created = [r for r in rows if r.create_status == "done" and r.state in OPEN]
    if http is not None and created:
        refs = [
            HandoffRef(r.key, r.crm_object, r.crm_object_id, r.crm_task_id, r.crm_person_id)
            for r in created
        ]
        for start in range(0, len(refs), 100):
            answers = await ctx.crm.connector.read_handoffs(http, refs[start : start + 100])
            for answer in answers:
                if answer.found:
                    facts[answer.key] = answer.facts
    moved = 0
    with ctx.store.begin() as conn:
        now = ctx.store.now()
        touched_customers: list[int] = []
        for row in rows:
            if _observe_one(ctx, conn, row, facts.get(row.key), now):
                moved += 1
                touched_customers.append(row.customer_id)
        feedback(ctx, conn, touched_customers)
    ctx.stats.moved += moved
    return moved


def _observe_one(
    ctx: Context, conn: Connection, row: Any, crm_facts: Mapping[str, Any] | None, now: datetime
) -> bool:
    golden = conn.execute(
        sa.select(customers.c.golden).where(customers.c.id == row.customer_id)
    ).scalar_one()
    changed = False
    current = row.state
    values: dict[str, Any] = {}
    if crm_facts is not None:
        merged = {**person_facts(golden), **crm_facts}
        move = evaluate(ctx.config, ctx.rules, current, merged, ctx.crm.name)
        if move is not None:
            values.update(
                _apply_move(ctx, conn, row, current, move.state, now, move.source, move.reason)
            )
            if move.reason is not None:
                values["reason"] = move.reason
            current = move.state
            changed = True
        owner = crm_facts.get("owner")
        if owner and str(owner) != (row.owner_id or "") and _human(ctx, str(owner)):
            # a person reassigned it in the CRM: follow them, never push ours back
            values.update(owner_id=str(owner), owner_source="crm")
            changed = True
    lifecycle = _lifecycle_move(ctx, conn, row, current)
    if lifecycle is not None:
        new, at, source = lifecycle
        values.update(_apply_move(ctx, conn, row, current, new, at, source))
        current = new
        changed = True
    if current == "rejected":
        # marketing takes a rejected lead back to nurture it (KPIS §1.1: recycled detour)
        values.update(_recycle(ctx, conn, row, now, values.get("reason") or row.reason))
        current = "recycled"
        changed = True
    if row.first_touch_at is None:
        touch = _first_touch(ctx, conn, row, values.get("owner_id") or row.owner_id)
        if touch is not None:
            values["first_touch_at"] = touch
            ctx.stats.touched += 1
            changed = True
    if crm_facts is not None and dict(crm_facts) != dict(row.facts or {}):
        values["facts"] = _jsonable(crm_facts)
    if values:
        values["updated_at"] = now
        conn.execute(handoffs.update().where(handoffs.c.id == row.id).values(**values))
    return changed


def _human(ctx: Context, owner: str) -> bool:
    return ctx.config.integration_user is None or owner != ctx.config.integration_user


def _apply_move(
    ctx: Context,
    conn: Connection,
    row: Any,
    current: str,
    new: str,
    at: datetime,
    source: str,
    reason: str | None = None,
) -> dict[str, Any]:
    values: dict[str, Any] = {"state": new}
    if new in ("accepted", "rejected") and row.decided_at is None:
        values["decided_at"] = at
    if new in ("converted", "recycled"):
        values["outcome_at"] = at
        if new == "converted" and row.decided_at is None:
            # a hand-off that jumps to converted was implicitly accepted (KPIS §1.2 t_sal)
            values["decided_at"] = at
    event(ctx, conn, row.id, new, current, at, source, reason)
    log.info("handoff.state", key=row.key, state=new, previous=current, source=source)
    return values


def _lifecycle_move(
    ctx: Context, conn: Connection, row: Any, current: str
) -> tuple[str, datetime, str] | None:
    """converted when the person reached sql or beyond after the hand-off; recycled when
    the lifecycle recycled or disqualified them."""
    if current in ("converted", "recycled"):
        return None
    entry = conn.execute(
        sa.select(stage_history.c.stage, stage_history.c.entered_at, stage_history.c.rule)
        .where(
            stage_history.c.customer_id == row.customer_id,
            stage_history.c.entered_at >= row.handed_over_at,
            stage_history.c.stage.in_((*CONVERTED_STAGES, "recycled", "disqualified")),
        )
        .order_by(stage_history.c.entered_at, stage_history.c.id)
        .limit(1)
    ).first()
    if entry is None:
        return None
    if entry.stage in CONVERTED_STAGES:
        return "converted", entry.entered_at, f"lifecycle {entry.stage} ({entry.rule})"
    if entry.rule == "handoff.rejected":
        return None  # our own recycle of a rejection, recorded with it
    return "recycled", entry.entered_at, f"lifecycle {entry.stage} ({entry.rule})"


def _recycle(
    ctx: Context, conn: Connection, row: Any, now: datetime, reason: str | None
) -> dict[str, Any]:
    """Send the rejected person back to marketing: lifecycle stage and hand-off state."""
    current = conn.execute(
        sa.select(scores.c.stage, scores.c.value, scores.c.model_version).where(
            scores.c.customer_id == row.customer_id
        )
    ).first()
    if current is not None and current.stage == "mql":
        cause = f"rejected by sales: {reason}" if reason else "rejected by sales"
        conn.execute(
            stage_history.insert().values(
                customer_id=row.customer_id,
                stage="recycled",
                previous=current.stage,
                entered_at=now,
                cause=cause,
                rule="handoff.rejected",
                score=current.value,
                model_version=current.model_version,
            )
        )
        conn.execute(
            scores.update()
            .where(scores.c.customer_id == row.customer_id)
            .values(stage="recycled", stage_since=now)
        )
        golden = conn.execute(
            sa.select(customers.c.golden).where(customers.c.id == row.customer_id)
        ).scalar_one()
        computed = {**(golden.get(GOLDEN_KEY) or {}), "stage": "recycled"}
        conn.execute(
            customers.update()
            .where(customers.c.id == row.customer_id)
            .values(golden={**golden, GOLDEN_KEY: computed})
        )
    event(
        ctx,
        conn,
        row.id,
        "recycled",
        "rejected",
        now,
        "daemon: rejected leads go back to marketing",
    )
    return {"state": "recycled", "outcome_at": now}


def _first_touch(ctx: Context, conn: Connection, row: Any, owner: str | None) -> datetime | None:
    """The first call/email/meeting in the CRM by the owner since the hand-off."""
    query = (
        sa.select(activities.c.occurred_at, activities.c.fields, activities.c.external_id)
        .where(
            activities.c.customer_id == row.customer_id,
            activities.c.connector == ctx.crm.name,
            activities.c.type.in_(ctx.sla.touch_types),
            activities.c.occurred_at >= row.handed_over_at,
            activities.c.occurred_at <= ctx.store.now(),
            activities.c.deleted.is_(False),
        )
        .order_by(activities.c.occurred_at)
    )
    for at, activity_fields, external_id in conn.execute(query):
        if external_id == row.crm_task_id:
            continue  # the follow-up task we created is a reminder, not a touch
        data = activity_fields or {}
        if data.get("done") is False:
            continue
        if owner is not None and data.get("owner") not in (None, "", owner):
            continue
        return at  # type: ignore[no-any-return]
    return None


def _jsonable(facts: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in facts.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, set | frozenset | tuple):
            out[key] = list(value)
        else:
            out[key] = value
    return out
