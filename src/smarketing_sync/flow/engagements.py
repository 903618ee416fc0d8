"""Resolve for activities and deals: attach them to the customer of their contact ids."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smarketing_sync.mapping.model import MappedActivity, MappedDeal
from smarketing_sync.store.schema import activities, deals, links


def _customers_of(conn: Connection, connector: str, contact_ids: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    ids = sorted(contact_ids)
    for i in range(0, len(ids), 500):
        rows = conn.execute(
            sa.select(links.c.external_id, links.c.customer_id).where(
                links.c.connector == connector, links.c.external_id.in_(ids[i : i + 500])
            )
        )
        found.update({ext: cid for ext, cid in rows})
    return found


def _first_customer(contact_ids: Sequence[str], owners: dict[str, int]) -> int | None:
    for contact in contact_ids:
        if contact in owners:
            return owners[contact]
    return None


def _json_safe(fields: Any) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in dict(fields).items()}


def _upsert(
    conn: Connection, table: sa.Table, connector: str, ext: str, row: dict[str, Any]
) -> None:
    key = (table.c.connector == connector) & (table.c.external_id == ext)
    if conn.execute(sa.select(table.c.external_id).where(key)).first() is None:
        conn.execute(table.insert().values(connector=connector, external_id=ext, **row))
    else:
        conn.execute(table.update().where(key).values(**row))


def apply_activities(conn: Connection, connector: str, records: Sequence[MappedActivity]) -> int:
    """Upsert one page of activities; returns how many were attached to a known customer."""
    owners = _customers_of(conn, connector, {c for r in records for c in r.contact_ids})
    attached = 0
    for record in records:
        customer = _first_customer(record.contact_ids, owners)
        attached += customer is not None
        _upsert(
            conn,
            activities,
            connector,
            record.external_id,
            {
                "customer_id": customer,
                "contact_ids": list(record.contact_ids),
                "type": record.type,
                "occurred_at": record.occurred_at,
                "updated_at": record.updated_at,
                "fields": _json_safe(record.fields),
                "deleted": record.deleted,
            },
        )
    return attached


def _as_datetime(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _as_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def apply_deals(conn: Connection, connector: str, records: Sequence[MappedDeal]) -> int:
    """Upsert one page of deals; returns how many were attached to a known customer."""
    owners = _customers_of(conn, connector, {c for r in records for c in r.contact_ids})
    attached = 0
    for record in records:
        customer = _first_customer(record.contact_ids, owners)
        attached += customer is not None
        fields = record.fields
        _upsert(
            conn,
            deals,
            connector,
            record.external_id,
            {
                "customer_id": customer,
                "contact_ids": list(record.contact_ids),
                "status": fields.get("status"),
                "amount": _as_float(fields.get("amount")),
                "currency": fields.get("currency"),
                "created_at": _as_datetime(fields.get("created_at")),
                "won_at": _as_datetime(fields.get("won_at")),
                "lost_at": _as_datetime(fields.get("lost_at")),
                "updated_at": record.updated_at,
                "fields": _json_safe(fields),
                "deleted": record.deleted,
            },
        )
    return attached


def attach_orphans(conn: Connection, connector: str) -> int:
    """Attach activities and deals pulled before their contact was linked."""
    attached = 0
    for table in (activities, deals):
        rows = conn.execute(
            sa.select(table.c.external_id, table.c.contact_ids).where(
                table.c.connector == connector, table.c.customer_id.is_(None)
            )
        ).all()
        if not rows:
            continue
        owners = _customers_of(conn, connector, {c for _, ids in rows for c in ids})
        for ext, contact_ids in rows:
            customer = _first_customer(contact_ids, owners)
            if customer is not None:
                attached += 1
                conn.execute(
                    table.update()
                    .where(table.c.connector == connector, table.c.external_id == ext)
                    .values(customer_id=customer)
                )
    return attached
