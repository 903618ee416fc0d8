"""Push: send what planning (``plan.py``) queued in the outbox, in batches.

Sending marks rows before the call, so after a crash a row comes back with ``attempt > 1`` and
the connector knows an earlier send may have landed. Values that changed since they were
planned are dropped at send time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from smarketing_sync.errors import AuthError, RecordError, TransientError
from smarketing_sync.flow.plan import PUSH_OBJECT, PushStats, customer_values, plan
from smarketing_sync.flow.runtime import Runtime
from smarketing_sync.sdk.http import Http
from smarketing_sync.sdk.records import FieldUpdate, PushOutcome, PushResult
from smarketing_sync.store import state
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import customers, links, outbox, pushed

log = structlog.get_logger("smarketing_sync.push")

__all__ = ["PUSH_OBJECT", "PushStats", "customer_values", "plan", "send"]


def _backoff(attempts: int, first_s: float) -> timedelta:
    return timedelta(seconds=min(first_s * 2 ** max(0, attempts - 1), 3600))


async def send(
    store: Store,
    rt: Runtime,
    http: Http,
    *,
    max_attempts: int = 8,
    retry_backoff_s: float = 30.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> PushStats:
    """Send due outbox rows of ``rt`` in batches of its ``push_batch_size``.

    A retryable failure waits ``retry_backoff_s``, doubling per attempt (at most an hour).
    """
    stats = PushStats()
    size = rt.cls.push_batch_size
    with store.begin() as conn:
        # We hold this connector's lease: a row still 'sending' was cut off by a crash.
        conn.execute(
            outbox.update()
            .where(outbox.c.connector == rt.name, outbox.c.status == "sending")
            .values(status="pending")
        )
    while not should_stop():
        with store.begin() as conn:
            now = store.now()
            rows = conn.execute(
                sa.select(outbox)
                .where(
                    outbox.c.connector == rt.name,
                    outbox.c.status == "pending",
                    outbox.c.next_attempt_at <= now,
                )
                .order_by(outbox.c.id)
                .limit(size)
            ).all()
            if not rows:
                return stats
            rows = _drop_stale(conn, rows, now)
            if not rows:
                continue  # every row of this batch was superseded; commit and look again
            ids = [r.id for r in rows]
            conn.execute(
                outbox.update()
                .where(outbox.c.id.in_(ids))
                .values(status="sending", attempts=outbox.c.attempts + 1, updated_at=now)
            )
            updates = _updates(conn, rt.name, rows)
        stats.batches += 1
        stats.sent += len(updates)
        try:
            result: PushResult = await rt.connector.push(http, updates)
        except AuthError:
            with store.begin() as conn:
                conn.execute(outbox.update().where(outbox.c.id.in_(ids)).values(status="pending"))
            raise
        except TransientError as exc:
            result = PushResult.all_failed(updates, str(exc), retryable=True)
        except RecordError as exc:
            result = PushResult.all_failed(updates, str(exc))
        _settle(store, rt.name, rows, updates, result, max_attempts, retry_backoff_s, stats)
    return stats


def _drop_stale(conn: Connection, rows: Sequence[Any], now: datetime) -> list[Any]:
    """Drop values whose customer value changed since they were planned.

    A row waiting out a retry backoff still holds what was true when it was planned. If the
    value moved on meanwhile — for instance a person edited the field in this very tool, so the
    new plan had nothing to add — re-sending the old value would overwrite the newer edit.
    """
    ids = list({r.customer_id for r in rows})
    golden_of = dict(
        conn.execute(
            sa.select(customers.c.id, customers.c.golden).where(customers.c.id.in_(ids))
        ).all()
    )
    kept: list[Any] = []
    for row in rows:
        current = customer_values(row.customer_id, golden_of.get(row.customer_id) or {})
        fresh = {
            field: item
            for field, item in row.values.items()
            if current.get(item["source"]) == item["source_value"]
        }
        if fresh == row.values:
            kept.append(row)
            continue
        if fresh:
            conn.execute(outbox.update().where(outbox.c.id == row.id).values(values=fresh))
            kept.append(SimpleNamespace(**{**row._mapping, "values": fresh}))
        else:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == row.id)
                .values(status="done", last_error="superseded by a newer value", updated_at=now)
            )
    return kept


def _updates(conn: Connection, connector: str, rows: Sequence[Any]) -> list[FieldUpdate]:
    ids = [r.customer_id for r in rows]
    link_of = {
        cid: ext
        for cid, ext in conn.execute(
            sa.select(links.c.customer_id, links.c.external_id).where(
                links.c.connector == connector,
                links.c.customer_id.in_(ids),
                links.c.deleted_at.is_(None),
            )
        )
    }
    email_of = dict(
        conn.execute(
            sa.select(customers.c.id, customers.c.email).where(customers.c.id.in_(ids))
        ).all()
    )
    return [
        FieldUpdate(
            key=r.key,
            external_id=link_of.get(r.customer_id),
            email=email_of.get(r.customer_id),
            values={field: item["value"] for field, item in r.values.items()},
            attempt=r.attempts + 1,
        )
        for r in rows
    ]


def _settle(
    store: Store,
    connector: str,
    rows: Sequence[Any],
    updates: list[FieldUpdate],
    result: PushResult,
    max_attempts: int,
    retry_backoff_s: float,
    stats: PushStats,
) -> None:
    by_key = {o.key: o for o in result.outcomes}
    with store.begin() as conn:
        now = store.now()
        for row, update in zip(rows, updates, strict=True):
            outcome = by_key.get(row.key) or PushOutcome(
                row.key,
                False,
                error="the connector gave no outcome for this update",
                retryable=True,
            )
            attempts = row.attempts + 1
            if outcome.ok:
                _record_success(conn, connector, row, update, outcome, now, stats)
            elif outcome.retryable and attempts < max_attempts:
                stats.retry_later += 1
                conn.execute(
                    outbox.update()
                    .where(outbox.c.id == row.id)
                    .values(
                        status="pending",
                        next_attempt_at=now + _backoff(attempts, retry_backoff_s),
                        last_error=outcome.error,
                    )
                )
            else:
                stats.dead_lettered += 1
                conn.execute(
                    outbox.update()
                    .where(outbox.c.id == row.id)
                    .values(status="dead", last_error=outcome.error, updated_at=now)
                )
                state.dead_letter(
                    conn,
                    connector=connector,
                    stage="push",
                    stream=PUSH_OBJECT,
                    external_id=update.external_id,
                    reason=outcome.error or "rejected without a reason",
                    payload={
                        "customer_id": row.customer_id,
                        "outbox_key": row.key,
                        "values": dict(update.values),
                        # The connector's own verdict, so a retry never guesses from the text.
                        "transient": outcome.retryable,
                    },
                    attempts=attempts,
                    now=now,
                )
                log.warning(
                    "push.record_failed",
                    connector=connector,
                    key=row.key,
                    customer_id=row.customer_id,
                    reason=outcome.error,
                )


def _record_success(
    conn: Connection,
    connector: str,
    row: Any,
    update: FieldUpdate,
    outcome: PushOutcome,
    now: datetime,
    stats: PushStats,
) -> None:
    if update.external_id is None:
        stats.created += 1
        if outcome.external_id:
            taken = conn.execute(
                sa.select(links.c.customer_id).where(
                    links.c.connector == connector, links.c.external_id == outcome.external_id
                )
            ).first()
            if taken is None:
                conn.execute(
                    links.insert().values(
                        connector=connector,
                        external_id=outcome.external_id,
                        customer_id=row.customer_id,
                    )
                )
    else:
        stats.updated += 1
    conn.execute(outbox.update().where(outbox.c.id == row.id).values(status="done", updated_at=now))
    for field, item in row.values.items():
        values = {
            "value": item["value"],
            "source": item["source"],
            "source_value": item["source_value"],
            "source_changed_at": datetime.fromisoformat(item["changed_at"]),
            "pushed_at": now,
        }
        key = (
            (pushed.c.connector == connector)
            & (pushed.c.customer_id == row.customer_id)
            & (pushed.c.field == field)
        )
        if conn.execute(sa.select(pushed.c.field).where(key)).first() is None:
            conn.execute(
                pushed.insert().values(
                    connector=connector, customer_id=row.customer_id, field=field, **values
                )
            )
        else:
            conn.execute(pushed.update().where(key).values(**values))
