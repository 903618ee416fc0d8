"""Cursors, runs, leases and dead letters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from smarketing_sync.store.schema import cursors, dead_letters, locks, meta, runs


def get_cursor(conn: Connection, connector: str, stream: str) -> datetime | None:
    row = conn.execute(
        sa.select(cursors.c.value).where(
            cursors.c.connector == connector, cursors.c.stream == stream
        )
    ).first()
    return row[0] if row else None


def set_cursor(
    conn: Connection, connector: str, stream: str, value: datetime, now: datetime
) -> None:
    """Advance (never rewind) a stream's cursor."""
    current = get_cursor(conn, connector, stream)
    if current is None:
        conn.execute(
            cursors.insert().values(connector=connector, stream=stream, value=value, updated_at=now)
        )
    elif value > current:
        conn.execute(
            cursors.update()
            .where(cursors.c.connector == connector, cursors.c.stream == stream)
            .values(value=value, updated_at=now)
        )


def clear_cursors(conn: Connection, connector: str, stream: str | None = None) -> int:
    query = cursors.delete().where(cursors.c.connector == connector)
    if stream is not None:
        query = query.where(cursors.c.stream == stream)
    return conn.execute(query).rowcount


def all_cursors(conn: Connection, connector: str) -> dict[str, datetime]:
    rows = conn.execute(
        sa.select(cursors.c.stream, cursors.c.value).where(cursors.c.connector == connector)
    )
    return {stream: value for stream, value in rows}


def start_run(conn: Connection, connector: str, trigger: str, now: datetime) -> int:
    result = conn.execute(
        runs.insert().values(
            connector=connector, trigger=trigger, started_at=now, status="running", counts={}
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def finish_run(
    conn: Connection,
    run_id: int,
    status: str,
    counts: dict[str, Any],
    now: datetime,
    error: str | None = None,
) -> None:
    conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(status=status, counts=counts, finished_at=now, error=error)
    )


def last_runs(conn: Connection) -> dict[str, dict[str, Any]]:
    latest = (
        sa.select(runs.c.connector, sa.func.max(runs.c.id).label("id"))
        .group_by(runs.c.connector)
        .subquery()
    )
    rows = conn.execute(sa.select(runs).join(latest, runs.c.id == latest.c.id)).mappings()
    return {row["connector"]: dict(row) for row in rows}


def dead_letter(
    conn: Connection,
    *,
    connector: str,
    stage: str,
    reason: str,
    now: datetime,
    stream: str | None = None,
    external_id: str | None = None,
    payload: Any = None,
    attempts: int = 1,
) -> None:
    """Record a record that could not be read, mapped or written.

    The same record failing again (a bad record re-read through the lookback window every
    cycle) updates its open letter rather than adding one per cycle.
    """
    if external_id is not None:
        open_letter = conn.execute(
            sa.select(dead_letters.c.id, dead_letters.c.attempts).where(
                dead_letters.c.connector == connector,
                dead_letters.c.stage == stage,
                dead_letters.c.stream == stream,
                dead_letters.c.external_id == external_id,
                dead_letters.c.resolved_at.is_(None),
            )
        ).first()
        if open_letter is not None:
            conn.execute(
                dead_letters.update()
                .where(dead_letters.c.id == open_letter.id)
                .values(
                    reason=reason[:2000],
                    payload=payload,
                    attempts=max(attempts, open_letter.attempts + 1),
                )
            )
            return
    conn.execute(
        dead_letters.insert().values(
            connector=connector,
            stage=stage,
            stream=stream,
            external_id=external_id,
            reason=reason[:2000],
            payload=payload,
            attempts=attempts,
            created_at=now,
        )
    )


def dead_letter_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        sa.select(dead_letters.c.connector, sa.func.count())
        .where(dead_letters.c.resolved_at.is_(None))
        .group_by(dead_letters.c.connector)
    )
    return {connector: int(count) for connector, count in rows}


def try_lease(conn: Connection, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    """Take or renew the lease ``name``; False while another holder's lease is unexpired."""
    # The condition lives in the UPDATE itself: on PostgreSQL (READ COMMITTED) a read followed
    # by a write let two replicas both see an expired lease and both take it; a waiting UPDATE
    # re-checks its WHERE against the winner's row instead. (SQLite's BEGIN IMMEDIATE
    # serializes the transactions anyway.)
    taken = conn.execute(
        locks.update()
        .where(locks.c.name == name, sa.or_(locks.c.holder == holder, locks.c.expires_at <= now))
        .values(holder=holder, expires_at=now + ttl)
    ).rowcount
    if taken == 1:
        return True
    # No row, or another holder's unexpired one: a concurrent first taker wins the insert.
    return _insert_if_absent(conn, locks, {"name": name, "holder": holder, "expires_at": now + ttl})


def _insert_if_absent(conn: Connection, table: sa.Table, row: dict[str, Any]) -> bool:
    """Insert ``row`` unless its primary key exists (also when a concurrent transaction is
    inserting it: PostgreSQL then waits for it instead of raising a unique violation)."""
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        query = insert(table).values(**row).on_conflict_do_nothing()
        # RETURNING tells whether the row went in (an INSERT's rowcount is not reliable).
        return conn.execute(query.returning(*table.primary_key.columns)).first() is not None
    key = [table.c[column.name] == row[column.name] for column in table.primary_key.columns]
    if conn.execute(sa.select(*table.primary_key.columns).where(*key)).first() is not None:
        return False
    conn.execute(table.insert().values(**row))
    return True


def release_lease(conn: Connection, name: str, holder: str) -> None:
    conn.execute(locks.delete().where(locks.c.name == name, locks.c.holder == holder))


def lease_holder(conn: Connection, name: str, now: datetime) -> str | None:
    row = conn.execute(
        sa.select(locks.c.holder, locks.c.expires_at).where(locks.c.name == name)
    ).first()
    return row.holder if row is not None and row.expires_at > now else None


def next_rev(conn: Connection) -> int:
    """Allocate the next value of the store-wide customer revision sequence."""
    # FOR UPDATE (PostgreSQL; SQLite compiles it away and serializes writers by itself): two
    # transactions reading the same value would hand out the same revision. The row stays
    # locked until commit, so revisions also become visible in the order they were given out,
    # which "scored up to revision n" relies on.
    current = sa.select(meta.c.value).where(meta.c.key == "rev").with_for_update()
    row = conn.execute(current).first()
    if row is None and _insert_if_absent(conn, meta, {"key": "rev", "value": 1}):
        return 1
    if row is None:  # a concurrent first allocation created the row meanwhile
        row = conn.execute(current).one()
    value = int(row[0]) + 1
    conn.execute(meta.update().where(meta.c.key == "rev").values(value=value))
    return value
