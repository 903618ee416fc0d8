"""The dead-letter queue: list, show, retry and drop records that could not be read, mapped or
written, and retry the transient ones automatically with backoff.

A retry never replays a stale value:

- a **map** letter (stage ``map``) holds the raw vendor record. It is mapped again with the
  current mapping and applied exactly as a pulled page is, so a newer version of the record that
  arrived meanwhile wins (the letter is then *superseded*).
- a **push** letter holds the outbox key and the values we failed to write. Only the values the
  customer still has are put back in the outbox, on the same row, so the connector sees an
  attempt > 1 and looks the person up before creating it (no duplicate if a lost answer hid a
  write that landed). If the customer already has an open outbox row the values merge into it.
- a **handoff** letter (creating a hand-off's lead/deal/task in the CRM was refused) sends the
  hand-off again with the next cycle; its attempt count is kept, so the connector looks up what
  an earlier attempt may have created first.

Automatic retries only take push letters whose reason is transient (timeouts, dropped
connections, 5xx, 429, garbled answers): a mapping or validation error needs a human first.
Each automatic retry adds one attempt to the outbox row, so the number of retries so far is
``attempts - max_push_attempts`` and the wait before the next one doubles each time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from smarketing_sync.flow.pull import PullStats, _apply, _fresh, _remember
from smarketing_sync.flow.runtime import Runtime
from smarketing_sync.flow.survivorship import Survivorship
from smarketing_sync.mapping.apply import map_record
from smarketing_sync.mapping.model import MappingFailure
from smarketing_sync.settings import DlqSettings
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import customers, dead_letters, handoffs, outbox, source_records

log = structlog.get_logger("smarketing_sync.dlq")

#: Reasons the HTTP layer and the push stage give for failures that are expected to go away.
_TRANSIENT = re.compile(
    r"timed out|answered (?:5\d\d|429)\b|failed: \w*(?:Error|Timeout)\b|not JSON"
    r"|gave no outcome|connection (?:reset|refused|closed)",
    re.IGNORECASE,
)

RESOLUTIONS = ("recovered", "requeued", "superseded", "dropped")


def is_transient(stage: str, reason: str, payload: Any = None) -> bool:
    """Whether a dead letter may be retried without a human changing anything first.

    Push letters carry the connector's verdict (``payload["transient"]``); letters written
    before it existed are judged by their reason text.
    """
    if stage != "push":
        return False
    if isinstance(payload, dict) and isinstance(payload.get("transient"), bool):
        return bool(payload["transient"])
    return _TRANSIENT.search(reason) is not None


@dataclass(slots=True)
class RetryReport:
    recovered: int = 0  # map letters re-applied
    requeued: int = 0  # push letters back in the outbox
    superseded: int = 0  # a newer version or value made the letter moot
    failed: int = 0  # still failing; the letter stays open with the new reason
    skipped: list[str] = field(default_factory=list)  # letters this call could not handle

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def total(self) -> int:
        return self.recovered + self.requeued + self.superseded


def _row_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def list_letters(
    store: Store,
    *,
    connector: str | None = None,
    include_resolved: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    query = sa.select(dead_letters).order_by(dead_letters.c.id)
    if connector is not None:
        query = query.where(dead_letters.c.connector == connector)
    if not include_resolved:
        query = query.where(dead_letters.c.resolved_at.is_(None))
    if limit is not None:
        query = query.limit(limit)
    with store.read() as conn:
        return [_row_dict(r) for r in conn.execute(query)]


def show(store: Store, letter_id: int) -> dict[str, Any] | None:
    with store.read() as conn:
        row = conn.execute(sa.select(dead_letters).where(dead_letters.c.id == letter_id)).first()
    return _row_dict(row) if row is not None else None


def drop(store: Store, ids: Iterable[int]) -> int:
    """Give up on these letters (they stay in the table, resolved as ``dropped``)."""
    wanted = list(ids)
    if not wanted:
        return 0
    with store.begin() as conn:
        result = conn.execute(
            dead_letters.update()
            .where(dead_letters.c.id.in_(wanted), dead_letters.c.resolved_at.is_(None))
            .values(resolved_at=store.now(), resolution="dropped")
        )
    return int(result.rowcount)


def summary(store: Store) -> dict[str, dict[str, int]]:
    """Per connector: open letters and resolved ones by resolution (``dlq list`` footer, tests)."""
    out: dict[str, dict[str, int]] = {}
    with store.read() as conn:
        rows = conn.execute(
            sa.select(
                dead_letters.c.connector, dead_letters.c.resolution, sa.func.count()
            ).group_by(dead_letters.c.connector, dead_letters.c.resolution)
        )
        for connector, resolution, count in rows:
            out.setdefault(connector, {})[resolution or "open"] = int(count)
    return out


# -- retry ------------------------------------------------------------------------------------


def _resolve(conn: Connection, letter_id: int, resolution: str, now: datetime) -> None:
    conn.execute(
        dead_letters.update()
        .where(dead_letters.c.id == letter_id)
        .values(resolved_at=now, resolution=resolution)
    )


def _still_failing(conn: Connection, letter: Mapping[str, Any], reason: str) -> None:
    conn.execute(
        dead_letters.update()
        .where(dead_letters.c.id == letter["id"])
        .values(reason=reason[:2000], attempts=letter["attempts"] + 1)
    )


def _newer_applied(
    conn: Connection, connector: str, stream: str, letter: Mapping[str, Any]
) -> bool:
    """A later version of the record was pulled and applied after this letter was written."""
    if letter["external_id"] is None:
        return False
    applied = conn.execute(
        sa.select(source_records.c.updated_at).where(
            source_records.c.connector == connector,
            source_records.c.stream == stream,
            source_records.c.external_id == letter["external_id"],
        )
    ).scalar()
    return applied is not None and applied >= letter["created_at"]


def _retry_map(
    store: Store,
    rt: Runtime,
    letter: Mapping[str, Any],
    survivorship: Survivorship,
    default_region: str,
    report: RetryReport,
) -> None:
    stream = letter["stream"]
    raw = letter["payload"]
    if stream not in rt.mapping.pull or not isinstance(raw, dict):
        report.skipped.append(f"#{letter['id']}: stream {stream!r} is not mapped any more")
        return
    result = map_record(rt.mapping, stream, raw, default_region=default_region)
    with store.begin() as conn:
        now = store.now()
        if isinstance(result, MappingFailure):
            if _newer_applied(conn, rt.name, stream, letter):
                report.superseded += 1
                _resolve(conn, letter["id"], "superseded", now)
                return
            report.failed += 1
            _still_failing(conn, letter, f"{result.field or 'record'}: {result.reason}")
            return
        fresh, _dropped = _fresh(conn, rt.name, stream, [result])
        if not fresh:
            report.superseded += 1
            _resolve(conn, letter["id"], "superseded", now)
            return
        _apply(conn, rt.name, fresh, survivorship, now, PullStats())
        _remember(conn, rt.name, stream, fresh, False)
        _resolve(conn, letter["id"], "recovered", now)
        report.recovered += 1


def _retry_push(store: Store, letter: Mapping[str, Any], report: RetryReport) -> None:
    payload = letter["payload"] if isinstance(letter["payload"], dict) else {}
    key = payload.get("outbox_key")
    with store.begin() as conn:
        now = store.now()
        row = conn.execute(sa.select(outbox).where(outbox.c.key == key)).first()
        if row is None:
            report.skipped.append(f"#{letter['id']}: outbox row {key!r} no longer exists")
            return
        customer = conn.execute(
            sa.select(customers.c.golden, customers.c.deleted_at).where(
                customers.c.id == row.customer_id
            )
        ).first()
        # Only the values the customer still has: a newer change was planned on its own.
        current: dict[str, Any] = {}
        if customer is not None and customer.deleted_at is None:
            golden = dict(customer.golden)
            current = {
                vendor_field: item
                for vendor_field, item in row.values.items()
                if golden.get(item["source"]) == item["source_value"]
            }
        if not current:
            report.superseded += 1
            _resolve(conn, letter["id"], "superseded", now)
            return
        open_row = conn.execute(
            sa.select(outbox.c.id, outbox.c["values"]).where(
                outbox.c.connector == row.connector,
                outbox.c.customer_id == row.customer_id,
                outbox.c.status == "pending",
                outbox.c.id != row.id,
            )
        ).first()
        if open_row is not None:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == open_row.id)
                .values(values={**current, **open_row.values}, updated_at=now)
            )
        else:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == row.id)
                .values(status="pending", values=current, next_attempt_at=now, updated_at=now)
            )
        _resolve(conn, letter["id"], "requeued", now)
        report.requeued += 1


def _retry_handoff(store: Store, letter: Mapping[str, Any], report: RetryReport) -> None:
    """Creating a hand-off in the CRM goes again with the next cycle. The attempt count is kept,
    so the connector looks up what an earlier attempt may have created first."""
    with store.begin() as conn:
        now = store.now()
        updated = conn.execute(
            handoffs.update()
            .where(handoffs.c.key == letter["external_id"], handoffs.c.create_status == "dead")
            .values(create_status="pending", next_attempt_at=now, updated_at=now)
        ).rowcount
        if not updated:
            report.skipped.append(
                f"#{letter['id']}: hand-off {letter['external_id']!r} is not waiting for a retry"
            )
            return
        _resolve(conn, letter["id"], "requeued", now)
        report.requeued += 1


def retry(
    store: Store,
    runtimes: Mapping[str, Runtime],
    letters: Sequence[Mapping[str, Any]],
    *,
    survivorship: Survivorship,
    default_region: str = "US",
) -> RetryReport:
    """Retry these letters now (any stage); a push goes out with the connector's next cycle."""
    report = RetryReport()
    for letter in letters:
        if letter["resolved_at"] is not None:
            report.skipped.append(f"#{letter['id']}: already {letter['resolution'] or 'resolved'}")
            continue
        rt = runtimes.get(letter["connector"])
        if letter["stage"] == "push":
            _retry_push(store, letter, report)
        elif letter["stage"] == "handoff":
            _retry_handoff(store, letter, report)
        elif letter["stage"] == "map" and rt is not None:
            _retry_map(store, rt, letter, survivorship, default_region, report)
        else:
            report.skipped.append(
                f"#{letter['id']}: stage {letter['stage']!r} of {letter['connector']!r} "
                "cannot be retried here (connector not configured?)"
            )
    log.info("dlq.retried", **report.as_dict())
    return report


def next_retry_at(
    letter: Mapping[str, Any], settings: DlqSettings, max_push_attempts: int
) -> datetime | None:
    """When an automatic retry of ``letter`` is due, or None when it is not retried by itself."""
    if letter["resolved_at"] is not None or not is_transient(
        letter["stage"], letter["reason"], letter.get("payload")
    ):
        return None
    done = max(0, int(letter["attempts"]) - max_push_attempts)
    if done >= settings.max_auto_retries:
        return None
    created: datetime = letter["created_at"]
    return created + timedelta(seconds=settings.backoff_s * 2**done)


def retry_due(
    store: Store,
    rt: Runtime,
    settings: DlqSettings,
    *,
    max_push_attempts: int,
) -> RetryReport:
    """Put this connector's transient push letters whose backoff has passed back in the outbox."""
    report = RetryReport()
    if not settings.auto_retry:
        return report
    now = store.now()
    due = [
        letter
        for letter in list_letters(store, connector=rt.name)
        if letter["stage"] == "push"
        and (when := next_retry_at(letter, settings, max_push_attempts)) is not None
        and when <= now
    ]
    for letter in due:
        _retry_push(store, letter, report)
    if due:
        log.info("dlq.auto_retry", connector=rt.name, **report.as_dict())
    return report


# -- the `smarketing-sync dlq` command ---------------------------------------------------------
