"""Set-based reads of what scores are computed from: a chunk of customers' activities and
deals, one query per table, without per-value type processing (the full rescore reads a
million activities through here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smarketing_sync.store.schema import activities, deals


def in_chunk(column: sa.ColumnElement[Any], part: Sequence[int], dense: bool) -> Any:
    # A full rescore walks ids in order: a range uses the index and needs no parameter list.
    return column.between(part[0], part[-1]) if dense else column.in_(part)


@dataclass(slots=True)
class Inputs:
    activities: list[tuple[str, float]]
    activity_count: int = 0
    activity_newest: datetime | None = None
    deal_count: int = 0
    deal_newest: datetime | None = None
    open_deal_at: datetime | None = None
    won_at: datetime | None = None
    has_open: bool = False
    has_won: bool = False


def _raw(column: sa.ColumnElement[Any]) -> Any:
    # Skips the per-value type processing: a million activities pass through here. SQLite
    # hands out text ("YYYY-MM-DD HH:MM:SS.ffffff", so text order is time order), PostgreSQL
    # datetimes; both compare correctly among themselves and aware() reads both.
    return sa.type_coerce(column, sa.String()).label(column.name)


def _epoch(column: sa.ColumnElement[Any], dialect: str) -> Any:
    """Seconds since 1970 computed by the database: no datetime object per activity."""
    if dialect == "sqlite":
        return (sa.func.julianday(column) - 2440587.5) * 86400.0
    return sa.extract("epoch", column)


#: How "done": false reads back from the JSON column (SQLite gives 0, PostgreSQL 'false').
PLANNED = frozenset({0, "0", "false"})  # 0 == False covers a bool too


def load_inputs(conn: Connection, part: Sequence[int], dense: bool) -> dict[int, Inputs]:
    found: dict[int, Inputs] = {}
    rows = conn.execute(
        sa.select(
            activities.c.customer_id,
            activities.c.type,
            _epoch(activities.c.occurred_at, conn.dialect.name),
            _raw(activities.c.updated_at),
            sa.type_coerce(activities.c.deleted, sa.Integer()),
            activities.c.fields["done"].as_string(),
        ).where(in_chunk(activities.c.customer_id, part, dense))
    ).all()
    newest: dict[int, Any] = {}
    for cid, activity_type, occurred_at, updated_at, deleted, done in rows:
        entry = found.get(cid)
        if entry is None:
            entry = found[cid] = Inputs([])
            newest[cid] = updated_at
        elif updated_at > newest[cid]:
            newest[cid] = updated_at
        entry.activity_count += 1
        # A planned call or meeting (done = false, e.g. the hand-off's follow-up task) has not
        # happened: it is no engagement, whatever its due date.
        if not deleted and done not in PLANNED:
            entry.activities.append((activity_type, float(occurred_at)))
    for cid, value in newest.items():
        found[cid].activity_newest = aware(value)
    deal_rows = conn.execute(
        sa.select(
            deals.c.customer_id,
            deals.c.status,
            deals.c.created_at,
            deals.c.won_at,
            deals.c.updated_at,
            deals.c.deleted,
        ).where(in_chunk(deals.c.customer_id, part, dense))
    )
    for deal in deal_rows:
        cid, status, created_at, won_at = (
            deal.customer_id,
            deal.status,
            deal.created_at,
            deal.won_at,
        )
        updated_at, deleted = deal.updated_at, deal.deleted
        entry = found.get(cid)
        if entry is None:
            entry = found[cid] = Inputs([])
        entry.deal_count += 1
        if entry.deal_newest is None or updated_at > entry.deal_newest:
            entry.deal_newest = updated_at
        if deleted:
            continue
        if status == "won":
            entry.has_won = True
            if won_at is not None and (entry.won_at is None or won_at < entry.won_at):
                entry.won_at = won_at
        elif status == "open":
            entry.has_open = True
            if created_at is not None and (
                entry.open_deal_at is None or created_at < entry.open_deal_at
            ):
                entry.open_deal_at = created_at
    return found


def aware(value: Any) -> datetime | None:
    # An aggregate may come back as text on SQLite; the score rows store UTC-aware times.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
