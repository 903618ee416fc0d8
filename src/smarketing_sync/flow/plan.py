"""Planning, the first half of push: queue what each tool lacks into the outbox.

Each changed customer's golden values are rendered through the tool's push mapping and compared
with what the tool already holds (its claims) and with what we last wrote there; only the
difference is queued, one open outbox row per (tool, customer).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smarketing_sync.flow.runtime import Runtime
from smarketing_sync.mapping.apply import render_push
from smarketing_sync.mapping.spec import PushMapping
from smarketing_sync.scoring.model import GOLDEN_KEY
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import claims, customers, links, meta, outbox, pushed

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
