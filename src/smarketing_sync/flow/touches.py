"""Touches: marketing touch activities derived from the marketing tool's contact analytics.

HubSpot's CRM API gives no cheap list of page views or form submissions, but every contact
carries its first tracked visit and its first and most recent conversion (event name and time)
as properties. Mapped to customer fields (``first_seen``, ``first_conversion[_at]``,
``recent_conversion[_at]``, with ``lead_source`` and ``lead_source_detail`` for the channel and
campaign), they become activities of connector ``smarketing``:

- ``<customer>:first_visit`` — a ``page_view`` at ``first_seen``;
- ``<customer>:conversion:<UTC time>`` — a ``form_submission`` per distinct conversion time.

The ids are stable, so a re-run writes nothing, and each *new* recent conversion adds a row
while the older ones stay: the history accumulates although the tool only keeps the latest.
Only customers whose revision moved since the last run are read (a new conversion is a field
change, hence a new revision).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import activities, customers, meta

log = structlog.get_logger("smarketing_sync.touches")

#: The connector name of derived touches: they are the daemon's reading of a tool's fields,
#: not records of that tool (the tool they came from is in ``fields.origin``).
DERIVED_CONNECTOR = "smarketing"
TOUCHES_REV = "touches_rev"
CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Touch:
    external_id: str
    type: str
    occurred_at: datetime
    fields: dict[str, Any]


def parse_time(value: Any) -> datetime | None:
    """A golden datetime value (ISO text, as resolve stores it) as aware UTC; None if not one."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _origin(provenance: Mapping[str, Any], field: str) -> str | None:
    winner = provenance.get(field)
    return str(winner[0]) if isinstance(winner, list | tuple) and winner else None


def touches_of(cid: int, golden: Mapping[str, Any], provenance: Mapping[str, Any]) -> list[Touch]:
    """The touches one customer's fields describe (none without analytics fields)."""
    channel = _text(golden.get("lead_source"))
    campaign = _text(golden.get("lead_source_detail"))
    found: dict[str, Touch] = {}
    first_seen = parse_time(golden.get("first_seen"))
    if first_seen is not None:
        key = f"{cid}:first_visit"
        found[key] = Touch(
            key,
            "page_view",
            first_seen,
            {
                "touch": "first_visit",
                "campaign": campaign,
                "channel": channel,
                "origin": _origin(provenance, "first_seen"),
            },
        )
    first_at = parse_time(golden.get("first_conversion_at"))
    for prefix in ("first", "recent"):
        at = parse_time(golden.get(f"{prefix}_conversion_at"))
        if at is None:
            continue
        key = f"{cid}:conversion:{_stamp(at)}"
        if key in found:
            continue  # first and recent are the same conversion
        name = _text(golden.get(f"{prefix}_conversion"))
        found[key] = Touch(
            key,
            "form_submission",
            at,
            {
                "touch": "conversion",
                "campaign": name,
                "subject": name,
                # The original source describes the visit that converted first; what brought
                # a person back for a later conversion is not known from these fields.
                "channel": channel if at == first_at else None,
                "origin": _origin(provenance, f"{prefix}_conversion_at"),
            },
        )
    return list(found.values())


def _chunks(ids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _meta_int(conn: Connection, key: str) -> int:
    row = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).first()
    return int(row[0]) if row and row[0] is not None else 0


def _set_meta(conn: Connection, key: str, value: int) -> None:
    where = meta.c.key == key
    if conn.execute(sa.select(meta.c.key).where(where)).first() is None:
        conn.execute(meta.insert().values(key=key, value=value))
    else:
        conn.execute(meta.update().where(where).values(value=value))


def derive_touches(store: Store, *, full: bool = False, chunk: int = CHUNK) -> int:
    """Write the touch activities of customers changed since the last run (``full``: of every
    customer); returns how many activity rows were inserted or changed."""
    started = time.perf_counter()
    with store.read() as conn:
        at_rev = _meta_int(conn, "rev")
        since = 0 if full else _meta_int(conn, TOUCHES_REV)
        ids: list[int] = list(
            conn.execute(
                sa.select(customers.c.id)
                .where(customers.c.rev > since, customers.c.deleted_at.is_(None))
                .order_by(customers.c.id)
            ).scalars()
        )
    written = 0
    for part in _chunks(ids, chunk):
        with store.begin() as conn:
            written += _write_chunk(conn, part, store.now())
    with store.begin() as conn:
        _set_meta(conn, TOUCHES_REV, at_rev)
    log.info(
        "touches.done",
        customers=len(ids),
        written=written,
        seconds=round(time.perf_counter() - started, 3),
    )
    return written


def _write_chunk(conn: Connection, part: Sequence[int], now: datetime) -> int:
    wanted: list[tuple[int, Touch]] = []
    for cid, golden, provenance in conn.execute(
        sa.select(customers.c.id, customers.c.golden, customers.c.provenance).where(
            customers.c.id.in_(part)
        )
    ):
        wanted.extend((cid, t) for t in touches_of(cid, golden or {}, provenance or {}))
    if not wanted:
        return 0
    existing = {
        ext: (kind, at, fields)
        for ext, kind, at, fields in conn.execute(
            sa.select(
                activities.c.external_id,
                activities.c.type,
                activities.c.occurred_at,
                activities.c.fields,
            ).where(activities.c.connector == DERIVED_CONNECTOR, activities.c.customer_id.in_(part))
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for cid, touch in wanted:
        row = {
            "customer_id": cid,
            "contact_ids": [],
            "type": touch.type,
            "occurred_at": touch.occurred_at,
            "updated_at": now,
            "fields": touch.fields,
            "deleted": False,
        }
        old = existing.get(touch.external_id)
        if old is None:
            inserts.append(
                {"connector": DERIVED_CONNECTOR, "external_id": touch.external_id, **row}
            )
        elif old != (touch.type, touch.occurred_at, touch.fields):
            updates.append({"ext": touch.external_id, **row})
    if inserts:
        conn.execute(activities.insert(), inserts)
    if updates:
        conn.execute(
            activities.update().where(
                activities.c.connector == DERIVED_CONNECTOR,
                activities.c.external_id == sa.bindparam("ext"),
            ),
            updates,
        )
    return len(inserts) + len(updates)
