"""Pull: read every stream of a connector incrementally and hand each page to map and resolve.

A page is committed in one transaction together with the cursor it allows, so a cursor never
runs ahead of what was stored. Reads start at ``cursor - lookback`` (inclusive); records already
applied with the same or a newer modification time are dropped as boundary duplicates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from smarketing_sync.flow.engagements import apply_activities, apply_deals, attach_orphans
from smarketing_sync.flow.resolve import ResolveStats, apply_contacts
from smarketing_sync.flow.runtime import Runtime
from smarketing_sync.flow.survivorship import Survivorship
from smarketing_sync.mapping.apply import map_record
from smarketing_sync.mapping.model import (
    Mapped,
    MappedActivity,
    MappedContact,
    MappedDeal,
    MappingFailure,
)
from smarketing_sync.sdk.http import Http
from smarketing_sync.sdk.pull import generic_pull
from smarketing_sync.sdk.records import Page
from smarketing_sync.store import state
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import source_records

log = structlog.get_logger("smarketing_sync.pull")

Progress = Callable[[str, str, int], None]  # connector, stream, records so far


@dataclass(slots=True)
class PullStats:
    records: int = 0
    pages: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    contacts: int = 0
    activities: int = 0
    deals: int = 0
    attached: int = 0
    warnings: int = 0
    stopped: bool = False
    per_stream: dict[str, int] = field(default_factory=dict)  # records read per stream
    resolve: ResolveStats = field(default_factory=ResolveStats)

    def as_dict(self) -> dict[str, Any]:
        counts = {k: getattr(self, k) for k in self.__slots__ if k not in ("resolve", "per_stream")}
        counts.update({f"customers_{k}": getattr(self.resolve, k) for k in self.resolve.__slots__})
        return counts


def _pages(rt: Runtime, http: Http, stream: str, since: datetime | None) -> AsyncIterator[Page]:
    custom = getattr(rt.connector, "pull", None)
    if custom is not None:
        pages: AsyncIterator[Page] = custom(http, stream, since)
        return pages
    return generic_pull(http, rt.cls.streams[stream], since)


def fingerprint(record: Mapped) -> str:
    """A digest of what a mapped record says (not of its raw form: unmapped noise is ignored)."""
    content = {
        "fields": record.fields,
        "deleted": record.deleted,
        "extra": [getattr(record, name, None) for name in ("type", "occurred_at", "contact_ids")],
    }
    text = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _fresh(
    conn: Connection, connector: str, stream: str, records: Sequence[Mapped]
) -> tuple[list[Mapped], int]:
    """Drop records we already applied: older versions, and the same version read again."""
    ids = list({r.external_id for r in records})
    seen: dict[str, tuple[datetime, str]] = {}
    for i in range(0, len(ids), 500):
        rows = conn.execute(
            sa.select(
                source_records.c.external_id,
                source_records.c.updated_at,
                source_records.c.fingerprint,
            ).where(
                source_records.c.connector == connector,
                source_records.c.stream == stream,
                source_records.c.external_id.in_(ids[i : i + 500]),
            )
        )
        seen.update({ext: (ts, digest) for ext, ts, digest in rows})
    fresh: dict[str, Mapped] = {}
    for record in records:
        previous = seen.get(record.external_id)
        if previous is not None and (
            record.updated_at < previous[0]
            or (record.updated_at == previous[0] and fingerprint(record) == previous[1])
        ):
            continue
        kept = fresh.get(record.external_id)
        if kept is None or record.updated_at >= kept.updated_at:
            fresh[record.external_id] = record
    return list(fresh.values()), len(records) - len(fresh)


def _remember(
    conn: Connection, connector: str, stream: str, records: Sequence[Mapped], full: bool
) -> None:
    if not records:
        return
    ids = [r.external_id for r in records]
    existing: set[str] = set()
    for i in range(0, len(ids), 500):
        existing.update(
            ext
            for (ext,) in conn.execute(
                sa.select(source_records.c.external_id).where(
                    source_records.c.connector == connector,
                    source_records.c.stream == stream,
                    source_records.c.external_id.in_(ids[i : i + 500]),
                )
            )
        )
    inserts = [
        {
            "connector": connector,
            "stream": stream,
            "external_id": r.external_id,
            "updated_at": r.updated_at,
            "fingerprint": fingerprint(r),
        }
        for r in records
        if r.external_id not in existing
    ]
    if inserts:
        conn.execute(source_records.insert(), inserts)
    for record in records:
        if record.external_id in existing:
            conn.execute(
                source_records.update()
                .where(
                    source_records.c.connector == connector,
                    source_records.c.stream == stream,
                    source_records.c.external_id == record.external_id,
                )
                .values(updated_at=record.updated_at, fingerprint=fingerprint(record))
            )


async def pull_connector(
    rt: Runtime,
    http: Http,
    store: Store,
    survivorship: Survivorship,
    *,
    full: bool = False,
    lookback: timedelta | None = None,
    default_region: str = "US",
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> PullStats:
    """Pull every mapped stream of one connector; returns what happened.

    ``should_stop`` is asked after every committed page (SIGTERM: finish the page, then stop).
    """
    stats = PullStats()
    for stream, endpoint in rt.cls.streams.items():
        if should_stop():
            break
        if stream not in rt.mapping.pull:
            log.info(
                "pull.stream_skipped",
                connector=rt.name,
                stream=stream,
                reason="not in the mapping file",
            )
            continue
        with store.read() as conn:
            cursor = None if full else state.get_cursor(conn, rt.name, stream)
        window = (
            lookback
            if lookback is not None
            else (endpoint.cursor.lookback if endpoint.cursor else timedelta(0))
        )
        since = cursor - window if cursor is not None else None
        sorted_cursor = endpoint.cursor is not None and endpoint.cursor.sorted
        newest = cursor
        count = 0
        log.info("pull.stream", connector=rt.name, stream=stream, since=since, full=full)
        async for page in _pages(rt, http, stream, since):
            mapped: list[Mapped] = []
            failures: list[MappingFailure] = []
            for raw in page.records:
                result = map_record(rt.mapping, stream, raw, default_region=default_region)
                if isinstance(result, MappingFailure):
                    failures.append(result)
                else:
                    mapped.append(result)
                    stats.warnings += len(result.warnings)
            page_newest = max((m.updated_at for m in mapped), default=None)
            if page_newest is not None and (newest is None or page_newest > newest):
                newest = page_newest
            with store.begin() as conn:
                now = store.now()
                fresh, dropped = (mapped, 0) if full else _fresh(conn, rt.name, stream, mapped)
                stats.duplicates += dropped
                _apply(conn, rt.name, fresh, survivorship, now, stats)
                _remember(conn, rt.name, stream, fresh, full)
                for failure in failures:
                    state.dead_letter(
                        conn,
                        connector=rt.name,
                        stage="map",
                        stream=stream,
                        external_id=failure.external_id,
                        reason=f"{failure.field or 'record'}: {failure.reason}",
                        payload=dict(failure.raw),
                        now=now,
                    )
                if sorted_cursor and newest is not None:
                    state.set_cursor(conn, rt.name, stream, newest, now)
            for failure in failures:
                log.warning(
                    "pull.record_failed",
                    connector=rt.name,
                    stream=stream,
                    external_id=failure.external_id,
                    field=failure.field,
                    reason=failure.reason,
                )
            stats.pages += 1
            stats.records += len(page.records)
            stats.dead_lettered += len(failures)
            count += len(page.records)
            stats.per_stream[stream] = count
            log.debug("pull.page", connector=rt.name, stream=stream, records=len(page.records))
            if progress is not None:
                progress(rt.name, stream, count)
            if should_stop():
                stats.stopped = True
                break
        if stats.stopped:
            break  # an unsorted stream's cursor only moves once the stream is read to its end
        if not sorted_cursor and newest is not None:
            with store.begin() as conn:
                state.set_cursor(conn, rt.name, stream, newest, store.now())
    with store.begin() as conn:
        stats.attached += attach_orphans(conn, rt.name)
    return stats


def _apply(
    conn: Connection,
    connector: str,
    records: Sequence[Mapped],
    survivorship: Survivorship,
    now: datetime,
    stats: PullStats,
) -> None:
    contacts = [r for r in records if isinstance(r, MappedContact)]
    activities = [r for r in records if isinstance(r, MappedActivity)]
    deals = [r for r in records if isinstance(r, MappedDeal)]
    if contacts:
        stats.contacts += len(contacts)
        stats.resolve.add(apply_contacts(conn, connector, contacts, survivorship, now))
    if activities:
        stats.activities += len(activities)
        stats.attached += apply_activities(conn, connector, activities)
    if deals:
        stats.deals += len(deals)
        stats.attached += apply_deals(conn, connector, deals)
