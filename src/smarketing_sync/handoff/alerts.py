"""SLA breach alerts: queued once per (hand-off, clock, level, target), POSTed to webhooks.

Delivery is at-least-once. A row is claimed (its ``next_attempt_at`` pushed past the request's
timeout) in a committed transaction before its POST, and its outcome is committed after it;
a crash in between sends the row again once the claim runs out, and two daemons never send the
same due row at the same time. Receivers drop duplicates by the ``Idempotency-Key`` header
(``sla-alert:<row id>:<hand-off key>``), which the JSON payload repeats as ``idempotency_key``;
the chat payload stays a bare ``{"text"}`` because chat webhooks render nothing else.

Webhook URLs are secrets (a Slack webhook's path is its credential): they are stored in the
``target`` column but logged and reported only as ``scheme://host/…``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from smarketing_sync.errors import ConfigError
from smarketing_sync.settings import AlertSettings, AlertTarget
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import handoffs, sla_alerts

log = structlog.get_logger("smarketing_sync.alerts")

Clock = Literal["decision", "first_touch"]
Level = Literal["breach", "escalation"]

MAX_BACKOFF = timedelta(hours=1)
# A Retry-After is obeyed as given, up to a day: a receiver asking for more is misbehaving,
# and the alert would be worthless by then anyway.
MAX_RETRY_AFTER = timedelta(hours=24)
# Alerts are few; a handful in flight keeps one slow receiver from holding up the others.
CONCURRENCY = 8
_TARGET_MAX_LENGTH = 512  # sla_alerts.target is String(512)
_CLOCK_WORDS: dict[str, str] = {
    "decision": "decision (accept or reject)",
    "first_touch": "first touch",
}


@dataclass(frozen=True, slots=True)
class BreachInfo:
    """What an alert tells about one overdue hand-off; ``overdue_bh`` is in business hours."""

    handoff_id: int
    key: str
    customer_id: int
    email: str | None
    name: str
    owner_id: str | None
    owner_name: str | None
    clock: Clock
    level: Level
    handed_over_at: datetime
    due_at: datetime
    overdue_bh: float
    team: str
    crm: str
    crm_object_id: str | None
    state: str = "handed_over"
    timezone: str = "UTC"  # the team's zone: chat text shows the seller's local times


@dataclass
class DeliveryStats:
    """One ``deliver_due`` call: ``failed`` will be retried, ``dead`` were given up."""

    sent: int = 0
    failed: int = 0
    dead: int = 0


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: enough to tell targets apart, nothing of path or query."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<invalid url>"
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}/…"


def idempotency_key(alert_id: int, handoff_key: str) -> str:
    return f"sla-alert:{alert_id}:{handoff_key}"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _readable(at: datetime, zone: str = "UTC") -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def _chat_text(info: BreachInfo) -> str:
    owner = f"*{info.owner_name or info.owner_id}*" if info.owner_id else "*nobody* (unassigned)"
    who = f"*{info.name}*" + (f" ({info.email})" if info.email else "")
    clock = _CLOCK_WORDS[info.clock]
    overdue = f"{info.overdue_bh:.1f} business hours"
    if info.level == "escalation":
        headline = f"SLA escalation: the {clock} is still missing, {overdue} after its due time"
    else:
        headline = f"SLA breach: the {clock} is {overdue} overdue"
    where = f"{info.crm} {info.crm_object_id}" if info.crm_object_id else info.crm
    return (
        f"{headline}\n"
        f"Lead {who}, handed to {owner} (team {info.team}) on "
        f"{_readable(info.handed_over_at, info.timezone)}, "
        f"due {_readable(info.due_at, info.timezone)}.\n"
        f"{where} · hand-off {info.key}"
    )


def breach_payload(
    info: BreachInfo, fmt: Literal["json", "chat"], *, alert_id: int | None = None
) -> dict[str, Any]:
    """The body POSTed for ``info``; ``alert_id`` (the ``sla_alerts`` row) fills id and key."""
    if fmt == "chat":
        return {"text": _chat_text(info)}
    return {
        "event": f"sla.{info.level}",
        "id": alert_id,
        "idempotency_key": None if alert_id is None else idempotency_key(alert_id, info.key),
        "clock": info.clock,
        "handoff": {
            "key": info.key,
            "state": info.state,
            "crm": info.crm,
            "crm_object_id": info.crm_object_id,
            "handed_over_at": _iso(info.handed_over_at),
            "due_at": _iso(info.due_at),
            "overdue_business_hours": round(info.overdue_bh, 2),
        },
        "owner": {"id": info.owner_id, "name": info.owner_name},
        "customer": {"id": info.customer_id, "email": info.email, "name": info.name},
        "team": info.team,
    }


def _insert_once(conn: Connection, row: dict[str, Any]) -> int | None:
    """Insert unless (handoff, clock, level, target) is queued already; the new id or None."""
    unique = ["handoff_id", "clock", "level", "target"]
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        query = (
            insert(sla_alerts)
            .values(**row)
            .on_conflict_do_nothing(index_elements=unique)
            .returning(sla_alerts.c.id)
        )
        inserted = conn.execute(query).scalar()
        return None if inserted is None else int(inserted)
    # Other databases: the unique constraint still guards against a race between the two.
    exists = conn.execute(
        sa.select(sla_alerts.c.id).where(*(sla_alerts.c[c] == row[c] for c in unique))
    ).first()
    if exists is not None:
        return None
    key = conn.execute(sla_alerts.insert().values(**row)).inserted_primary_key
    return None if key is None else int(key[0])


def queue_alerts(
    conn: Connection, info: BreachInfo, targets: Sequence[AlertTarget], now: datetime
) -> int:
    """Queue ``info`` for each target that has not had it yet; returns the rows added."""
    added = 0
    for target in targets:
        if len(target.url) > _TARGET_MAX_LENGTH:
            raise ConfigError(
                "webhook URL is too long to be stored",
                key="sla.alerts.targets.url",
                expected=f"at most {_TARGET_MAX_LENGTH} characters",
                found=f"{len(target.url)} characters for {redact_url(target.url)}",
            )
        alert_id = _insert_once(
            conn,
            {
                "handoff_id": info.handoff_id,
                "clock": info.clock,
                "level": info.level,
                "target": target.url,
                "format": target.format,
                "payload": breach_payload(info, target.format),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
        )
        if alert_id is None:
            continue
        # The row id is only known now; the stored payload is exactly what will be POSTed.
        conn.execute(
            sla_alerts.update()
            .where(sla_alerts.c.id == alert_id)
            .values(payload=breach_payload(info, target.format, alert_id=alert_id))
        )
        added += 1
    return added


@dataclass(frozen=True, slots=True)
class _Due:
    id: int
    url: str
    payload: dict[str, Any]
    attempts: int
    handoff_key: str


@dataclass(frozen=True, slots=True)
class _Outcome:
    ok: bool
    error: str | None = None
    retry_after: timedelta | None = None


def _retry_after(response: httpx.Response, now: datetime) -> timedelta | None:
    if response.status_code not in (429, 503):
        return None
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        wait = timedelta(seconds=float(value))
    except (ValueError, OverflowError):
        try:
            at = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        # "-0000" parses to a naive time; HTTP dates are GMT by definition.
        wait = (at if at.tzinfo else at.replace(tzinfo=UTC)) - now
    return min(max(wait, timedelta(0)), MAX_RETRY_AFTER)


async def _post(client: httpx.AsyncClient, due: _Due, timeout_s: float, now: datetime) -> _Outcome:
    try:
        response = await client.post(
            due.url,
            json=due.payload,
            headers={"Idempotency-Key": idempotency_key(due.id, due.handoff_key)},
            timeout=timeout_s,
        )
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        # The class only: an exception's text can carry the URL, and the URL the token.
        return _Outcome(ok=False, error=type(exc).__name__)
    if response.is_success:
        return _Outcome(ok=True)
    return _Outcome(
        ok=False,
        error=f"HTTP {response.status_code}",
        retry_after=_retry_after(response, now),
    )


def _claim(store: Store, ids: Sequence[int], lease: timedelta) -> list[_Due]:
    """Push the rows' next attempt past the request so no other daemon sends them meanwhile."""
    now = store.now()
    claimed: list[_Due] = []
    with store.begin() as conn:
        for alert_id in ids:
            updated = conn.execute(
                sla_alerts.update()
                .where(
                    sla_alerts.c.id == alert_id,
                    sla_alerts.c.status == "pending",
                    sla_alerts.c.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + lease)
            ).rowcount
            if updated != 1:
                continue
            row = conn.execute(
                sa.select(
                    sla_alerts.c.target,
                    sla_alerts.c.payload,
                    sla_alerts.c.attempts,
                    handoffs.c.key,
                )
                .join(handoffs, handoffs.c.id == sla_alerts.c.handoff_id)
                .where(sla_alerts.c.id == alert_id)
            ).one()
            claimed.append(_Due(alert_id, row.target, row.payload, row.attempts, row.key))
    return claimed


def _record(
    store: Store, settings: AlertSettings, results: Sequence[tuple[_Due, _Outcome]]
) -> DeliveryStats:
    stats = DeliveryStats()
    now = store.now()
    with store.begin() as conn:
        for due, outcome in results:
            attempts = due.attempts + 1
            where = sla_alerts.c.id == due.id
            fields = {"alert_id": due.id, "handoff": due.handoff_key, "target": redact_url(due.url)}
            if outcome.ok:
                conn.execute(
                    sla_alerts.update()
                    .where(where)
                    .values(status="sent", attempts=attempts, sent_at=now, last_error=None)
                )
                stats.sent += 1
                log.info("sla_alert.sent", attempts=attempts, **fields)
            elif attempts >= settings.max_attempts:
                conn.execute(
                    sla_alerts.update()
                    .where(where)
                    .values(status="dead", attempts=attempts, last_error=outcome.error)
                )
                stats.dead += 1
                log.error("sla_alert.dead", attempts=attempts, error=outcome.error, **fields)
            else:
                wait = outcome.retry_after
                if wait is None:
                    backoff_s = settings.backoff_s * 2.0 ** min(attempts - 1, 60)
                    wait = timedelta(seconds=min(backoff_s, MAX_BACKOFF.total_seconds()))
                conn.execute(
                    sla_alerts.update()
                    .where(where)
                    .values(attempts=attempts, next_attempt_at=now + wait, last_error=outcome.error)
                )
                stats.failed += 1
                log.warning(
                    "sla_alert.retry",
                    attempts=attempts,
                    error=outcome.error,
                    retry_in_s=wait.total_seconds(),
                    **fields,
                )
    return stats


async def deliver_due(
    store: Store, settings: AlertSettings, *, client: httpx.AsyncClient | None = None
) -> DeliveryStats:
    """POST every pending alert that is due now, once each; see the module doc for guarantees."""
    now = store.now()
    with store.read() as conn:
        due_ids = list(
            conn.execute(
                sa.select(sla_alerts.c.id)
                .where(sla_alerts.c.status == "pending", sla_alerts.c.next_attempt_at <= now)
                .order_by(sla_alerts.c.next_attempt_at, sla_alerts.c.id)
            ).scalars()
        )
    total = DeliveryStats()
    if not due_ids:
        return total
    # Long enough for a chunk's requests (they run side by side) and their outcome commit.
    lease = timedelta(seconds=2 * settings.timeout_s + 60)
    own_client = client is None
    http = client or httpx.AsyncClient(timeout=settings.timeout_s)
    try:
        for start in range(0, len(due_ids), CONCURRENCY):
            claimed = _claim(store, due_ids[start : start + CONCURRENCY], lease)
            sent_at = store.now()
            outcomes = await asyncio.gather(
                *(_post(http, due, settings.timeout_s, sent_at) for due in claimed)
            )
            stats = _record(store, settings, list(zip(claimed, outcomes, strict=True)))
            total.sent += stats.sent
            total.failed += stats.failed
            total.dead += stats.dead
    finally:
        if own_client:
            await http.aclose()
    return total
