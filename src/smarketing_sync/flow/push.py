"""Push: plan what each tool lacks into the outbox, then send it in batches.

Planning compares each changed customer's golden values, rendered through the tool's push
mapping, with what the tool already holds (its claims) and with what we last wrote there; only
the difference is queued. Sending marks rows before the call, so after a crash a row comes back
with ``attempt > 1`` and the connector knows an earlier send may have landed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from smarketing_sync.errors import AuthError, RecordError, TransientError
from smarketing_sync.flow.runtime import Runtime
from smarketing_sync.mapping.apply import render_push
from smarketing_sync.mapping.spec import PushMapping
from smarketing_sync.scoring.model import GOLDEN_KEY
from smarketing_sync.sdk.http import Http
from smarketing_sync.sdk.records import FieldUpdate, PushOutcome, PushResult
from smarketing_sync.store import state
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import claims, customers, links, meta, outbox, pushed

log = structlog.get_logger("smarketing_sync.push")

PUSH_OBJECT = "contacts"
_PLAN_BATCH = 1000


@dataclass(slots=True)
class PushStats:
    queued: int = 0  # customers with a change queued for this tool
    unchanged: int = 0  # customers looked at whose values the tool already has
    not_creatable: int = 0  # missing in the tool and no email to create them with
    sent: int = 0  # updates handed to the connector
    updated: int = 0
    created: int = 0
    retry_later: int = 0
    dead_lettered: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def customer_values(customer_id: int, golden: dict[str, Any]) -> dict[str, Any]:
    """What a push mapping may read: golden fields plus the computed values.

    The score stage keeps score, band, reason and stage under ``golden[GOLDEN_KEY]``.
    """
    values = {k: v for k, v in golden.items() if k != GOLDEN_KEY}
    computed = golden.get(GOLDEN_KEY)
    if isinstance(computed, dict):
        values.update(computed)
    values["customer_id"] = customer_id
    return values


def plan(store: Store, rt: Runtime) -> PushStats:
    """Queue, for every customer changed since the last plan, what ``rt`` does not hold yet."""
    stats = PushStats()
    mapping = rt.mapping.push.get(PUSH_OBJECT)
    if mapping is None:
        return stats
    key = f"planned_rev:{rt.name}"
    while True:
        with store.begin() as conn:
            row = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).first()
            planned = int(row[0]) if row else 0
            batch = conn.execute(
                sa.select(
                    customers.c.id,
                    customers.c.golden,
                    customers.c.provenance,
                    customers.c.email,
                    customers.c.rev,
                )
                .where(customers.c.rev > planned, customers.c.deleted_at.is_(None))
                .order_by(customers.c.rev, customers.c.id)
                .limit(_PLAN_BATCH)
            ).all()
            if not batch:
                return stats
            # Never split one revision across two batches: the mark below would skip its rest.
            last_rev = batch[-1].rev
            if len(batch) == _PLAN_BATCH:
                whole = [r for r in batch if r.rev < last_rev]
                if whole:
                    batch, last_rev = whole, whole[-1].rev
                else:
                    batch = conn.execute(
                        sa.select(
                            customers.c.id,
                            customers.c.golden,
                            customers.c.provenance,
                            customers.c.email,
                            customers.c.rev,
                        ).where(customers.c.rev == last_rev, customers.c.deleted_at.is_(None))
                    ).all()
            _plan_batch(conn, rt, mapping, batch, store.now(), stats)
            if row:
                conn.execute(meta.update().where(meta.c.key == key).values(value=last_rev))
            else:
                conn.execute(meta.insert().values(key=key, value=last_rev))


def _plan_batch(
    conn: Connection,
    rt: Runtime,
    mapping: PushMapping,
    batch: Sequence[Any],
    now: datetime,
    stats: PushStats,
) -> None:
    ids = [r.id for r in batch]
    link_of: dict[int, tuple[str, bool]] = {}
    held: dict[int, dict[str, Any]] = defaultdict(dict)
    last: dict[int, dict[str, Any]] = defaultdict(dict)
    open_rows: dict[int, Any] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for r in conn.execute(
            sa.select(links.c.customer_id, links.c.external_id, links.c.deleted_at).where(
                links.c.connector == rt.name, links.c.customer_id.in_(chunk)
            )
        ):
            if r.customer_id not in link_of or r.deleted_at is None:
                link_of[r.customer_id] = (r.external_id, r.deleted_at is not None)
        for r in conn.execute(
            sa.select(claims.c.customer_id, claims.c.field, claims.c.value).where(
                claims.c.connector == rt.name, claims.c.customer_id.in_(chunk)
            )
        ):
            held[r.customer_id][r.field] = r.value
        for r in conn.execute(
            sa.select(pushed.c.customer_id, pushed.c.field, pushed.c.value).where(
                pushed.c.connector == rt.name, pushed.c.customer_id.in_(chunk)
            )
        ):
            last[r.customer_id][r.field] = r.value
        for r in conn.execute(
            sa.select(outbox.c.id, outbox.c.customer_id, outbox.c["values"]).where(
                outbox.c.connector == rt.name,
                outbox.c.status == "pending",
                outbox.c.customer_id.in_(chunk),
            )
        ):
            open_rows[r.customer_id] = r
    sources = {rule.target: rule.source for rule in mapping.fields}
    for customer in batch:
        link = link_of.get(customer.id)
        if link is not None and link[1]:
            continue  # deleted in this tool: a tombstone, never re-created
        values = customer_values(customer.id, customer.golden)
        wanted = render_push(mapping, values)
        in_tool = render_push(mapping, held.get(customer.id, {}))
        previous = last.get(customer.id, {})
        diff: dict[str, Any] = {}
        for vendor_field, value in wanted.items():
            if _is_blank(value) or value == in_tool.get(vendor_field):
                continue
            if value == previous.get(vendor_field):
                continue  # we wrote exactly this already; the tool may have normalized it
            source = sources.get(vendor_field, vendor_field)
            origin = customer.provenance.get(source)
            diff[vendor_field] = {
                "value": value,
                "source": source,
                "source_value": values.get(source),
                "changed_at": origin[1] if origin else now.isoformat(),
            }
        if not diff:
            stats.unchanged += 1
            continue
        if link is None and not customer.email:
            stats.not_creatable += 1
            continue
        stats.queued += 1
        row = open_rows.get(customer.id)
        if row is not None:
            merged = {**row.values, **diff}
            conn.execute(
                outbox.update().where(outbox.c.id == row.id).values(values=merged, updated_at=now)
            )
        else:
            conn.execute(
                outbox.insert().values(
                    connector=rt.name,
                    customer_id=customer.id,
                    key=f"{rt.name}:{customer.id}:{uuid.uuid4().hex[:16]}",
                    values=diff,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )


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
