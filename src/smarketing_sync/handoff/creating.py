"""Create the CRM side of hand-offs: lead or deal and the follow-up task, exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from smarketing_sync.errors import ContractError, TransientError
from smarketing_sync.handoff.context import Context, person_name
from smarketing_sync.scoring.model import GOLDEN_KEY
from smarketing_sync.sdk.http import Http
from smarketing_sync.sdk.records import HandoffCreated, HandoffRequest
from smarketing_sync.store import state as store_state
from smarketing_sync.store.schema import customers, handoffs, links

log = structlog.get_logger("smarketing_sync.handoff")

MAX_BACKOFF_S = 3600.0
SEND_BATCH = 50


class _Template(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, values: Mapping[str, Any]) -> str:
    """``str.format_map`` that leaves unknown placeholders as they are instead of failing."""
    return template.format_map(_Template(values))


async def send(ctx: Context, http: Http) -> int:
    """Create the CRM side of pending hand-offs; returns how many were created."""
    created = 0
    while True:
        batch = _claim_batch(ctx)
        if not batch:
            return created
        requests = [request for request, _ in batch]
        try:
            answers = await ctx.crm.connector.create_handoffs(http, requests)
        except (TransientError, ContractError) as exc:  # auth/config/quota errors end the run
            reason = f"{type(exc).__name__}: {exc}"
            answers = [HandoffCreated(r.key, False, error=reason, retryable=True) for r in requests]
        by_key = {a.key: a for a in answers}
        with ctx.store.begin() as conn:
            for request, row_id in batch:
                answer = by_key.get(request.key) or HandoffCreated(
                    request.key, False, error="the connector gave no answer", retryable=True
                )
                created += _record(ctx, conn, row_id, request, answer)
        if len(batch) < SEND_BATCH:
            return created


def _claim_batch(ctx: Context) -> list[tuple[HandoffRequest, int]]:
    """Pending hand-offs whose person exists in the CRM, with the attempt counted first."""
    batch: list[tuple[HandoffRequest, int]] = []
    with ctx.store.begin() as conn:
        now = ctx.store.now()
        rows = conn.execute(
            sa.select(handoffs)
            .where(handoffs.c.create_status == "pending", handoffs.c.next_attempt_at <= now)
            .order_by(handoffs.c.next_attempt_at, handoffs.c.id)
            .limit(SEND_BATCH * 4)
        ).all()
        for row in rows:
            if len(batch) >= SEND_BATCH:
                break
            person = (
                row.crm_person_id
                or conn.execute(
                    sa.select(links.c.external_id).where(
                        links.c.connector == ctx.crm.name,
                        links.c.customer_id == row.customer_id,
                        links.c.deleted_at.is_(None),
                    )
                ).scalar()
            )
            if person is None:
                ctx.stats.waiting_for_person += 1
                # To the back of the queue: hand-offs whose person is there go first, so a
                # pile of waiting ones never starves them (the claim reads a bounded window).
                wait = timedelta(seconds=ctx.settings.sync.retry_backoff_s)
                conn.execute(
                    handoffs.update()
                    .where(handoffs.c.id == row.id)
                    .values(
                        last_error=f"waiting for the person to exist in {ctx.crm.name}",
                        next_attempt_at=now + wait,
                    )
                )
                continue
            golden = conn.execute(
                sa.select(customers.c.golden).where(customers.c.id == row.customer_id)
            ).scalar_one()
            attempt = row.create_attempts + 1
            batch.append((_request(ctx, row, golden, str(person), attempt), row.id))
            conn.execute(
                handoffs.update()
                .where(handoffs.c.id == row.id)
                .values(create_attempts=attempt, crm_person_id=str(person), updated_at=now)
            )
    return batch


def _request(
    ctx: Context, row: Any, golden: Mapping[str, Any], person: str, attempt: int
) -> HandoffRequest:
    team = ctx.sla.team(row.team)
    due_local = row.decision_due_at.astimezone(ZoneInfo(team.timezone))
    values = {
        "name": person_name(golden),
        "email": golden.get("email") or "",
        "company": golden.get("company") or "",
        "score": row.score if row.score is not None else "",
        "due": due_local.strftime("%Y-%m-%d %H:%M %Z"),
        "key": row.key,
    }
    reason = (golden.get(GOLDEN_KEY) or {}).get("score.reason") or ""
    note = (
        f"Handed over by smarketing-sync: {values['name']} became a marketing qualified lead "
        f"(score {values['score']}). {reason}\nDecide (accept or reject with a reason) by "
        f"{values['due']}; first call, email or meeting within "
        f"{ctx.sla.first_touch_within_h:g} business hours.\nhand-off key: {row.key}"
    )
    return HandoffRequest(
        key=row.key,
        person_id=person,
        object=row.crm_object,
        owner_id=row.owner_id,
        title=render(ctx.config.title, values)[:255],
        due_at=row.decision_due_at,
        task_type=ctx.config.task_type,
        task_subject=render(ctx.config.task_subject, values)[:255],
        task_note=note,
        pipeline=ctx.config.pipeline,
        stage=ctx.config.stage,
        attempt=attempt,
    )


def _record(
    ctx: Context, conn: Connection, row_id: int, request: HandoffRequest, answer: HandoffCreated
) -> int:
    now = ctx.store.now()
    if answer.ok:
        conn.execute(
            handoffs.update()
            .where(handoffs.c.id == row_id)
            .values(
                create_status="done",
                crm_object_id=answer.object_id,
                crm_task_id=answer.task_id,
                last_error=None,
                updated_at=now,
            )
        )
        ctx.stats.created += 1
        log.info(
            "handoff.created",
            key=request.key,
            object_id=answer.object_id,
            task_id=answer.task_id,
        )
        return 1
    error = answer.error or "refused without a reason"
    if answer.retryable and request.attempt < ctx.config.max_attempts:
        wait = min(ctx.settings.sync.retry_backoff_s * 2 ** (request.attempt - 1), MAX_BACKOFF_S)
        conn.execute(
            handoffs.update()
            .where(handoffs.c.id == row_id)
            .values(last_error=error, next_attempt_at=now + timedelta(seconds=wait), updated_at=now)
        )
        ctx.stats.retry_later += 1
        log.warning("handoff.retry_later", key=request.key, error=error, attempt=request.attempt)
        return 0
    conn.execute(
        handoffs.update()
        .where(handoffs.c.id == row_id)
        .values(create_status="dead", last_error=error, updated_at=now)
    )
    store_state.dead_letter(
        conn,
        connector=ctx.crm.name,
        stage="handoff",
        reason=f"creating the hand-off in {ctx.crm.name} failed: {error}",
        now=now,
        stream="handoffs",
        external_id=request.key,
        payload={
            "key": request.key,
            "object": request.object,
            "person_id": request.person_id,
            "owner_id": request.owner_id,
            "title": request.title,
        },
        attempts=request.attempt,
    )
    ctx.stats.dead_lettered += 1
    log.error("handoff.dead_lettered", key=request.key, error=error)
    return 0
