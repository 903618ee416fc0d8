"""Sources: whether each person is a marketing- or a sales-generated lead, decided once.

A person gets a ``person_sources`` row as soon as they have a lifecycle stage, and the row is
never rewritten. ``lead_at`` is the lead's creation: the earlier of the first ``stage_history``
entry and the creation time any tool reports (``record_created_at``), so people who existed
before the daemon are not all dated to its first run. Never rewritten means: a
later rep call does not make a marketing lead a sales lead, and a later webinar does not make a
sales lead a marketing one (KPIS §1.5). The rules, first match wins:

1. ``origin_field``: the first of ``[sources] fields`` (default ``lead_source``: HubSpot's
   Original source, Pipedrive's "Lead source") whose value is listed under ``marketing`` or
   ``sales`` (case-insensitive). Values listed nowhere fall through to the next rule.
2. ``first_touch``: marketing when the earliest recorded interaction at or before the lead's
   origin is a marketing touch (``TOUCH_TYPES``). The origin is the earliest of ``lead_at`` and
   the creation time any tool reports (``record_created_at`` claims): for people who existed
   before the daemon first saw them, their first stage entry is only when we first looked.
   ``crm_created``: sales when the person was created in the CRM first and no marketing touch
   precedes that creation. Without creation times, "created in the CRM" means the CRM is the
   only tool that holds the person when the decision is taken (a person new in the CRM is
   decided after score and before push creates them elsewhere).
3. ``none``: ``unknown``, shown in the report, never folded into either side.

The CRM is ``[sources] crm``, else ``[handoff] crm``, else the one configured connector that
pulls deals (``crm_connector``); with none of these the ``crm_created`` rule never fires.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from smarketing_sync.flow.touches import parse_time
from smarketing_sync.mapping.model import TOUCH_TYPES
from smarketing_sync.sdk.declarations import Capability
from smarketing_sync.settings import Settings, SourceSettings
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import (
    TS,
    activities,
    claims,
    customers,
    links,
    person_sources,
    stage_history,
)

log = structlog.get_logger("smarketing_sync.sources")

CHUNK = 2000
CREATED_FIELD = "record_created_at"


@dataclass(frozen=True, slots=True)
class Decision:
    source: str  # marketing | sales | unknown
    rule: str  # origin_field | first_touch | crm_created | none
    detail: str | None


@dataclass(slots=True)
class Facts:
    """What one person's source is decided from."""

    lead_at: datetime
    golden: Mapping[str, Any]
    created: Mapping[str, datetime]  # connector -> when that tool created the record
    tools: frozenset[str]  # connectors holding a live link to the person
    first_any: datetime | None = None  # earliest activity of any kind
    first_touch: datetime | None = None  # earliest marketing touch
    touch_detail: str | None = None  # what that touch was


def crm_connector(
    settings: Settings, capabilities: Mapping[str, Collection[Capability]] | None = None
) -> str | None:
    """The connector where sales creates people: configured, else the only one with deals."""
    configured = settings.sources.crm or settings.handoff.crm
    if configured or not capabilities:
        return configured
    with_deals = [n for n, caps in capabilities.items() if Capability.PULL_DEALS in caps]
    return with_deals[0] if len(with_deals) == 1 else None


def decide(facts: Facts, rules: SourceSettings, crm: str | None) -> Decision:
    """The source of one person by the rules of the module docstring."""
    marketing = {v.casefold() for v in rules.marketing}
    sales = {v.casefold() for v in rules.sales}
    for name in rules.fields:
        value = facts.golden.get(name)
        if not isinstance(value, str) or not value.strip():
            continue
        key = value.strip().casefold()
        if key in marketing or key in sales:
            side = "marketing" if key in marketing else "sales"
            return Decision(side, "origin_field", f"{name} = {value.strip()}")
    origin = min([facts.lead_at, *facts.created.values()])
    if (
        facts.first_touch is not None
        and facts.first_touch <= origin
        and facts.first_touch == facts.first_any
    ):
        return Decision("marketing", "first_touch", facts.touch_detail)
    if crm is not None:
        crm_created = facts.created.get(crm)
        if facts.created:
            first = crm_created is not None and crm_created == min(facts.created.values())
        else:
            first = facts.tools == {crm}
        touched_before = (
            facts.first_touch is not None
            and crm_created is not None
            and facts.first_touch <= crm_created
        )
        if first and not touched_before:
            when = f" at {crm_created.isoformat()}" if crm_created is not None else ""
            return Decision("sales", "crm_created", f"created in {crm}{when}")
    return Decision("unknown", "none", None)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def undecided(conn: Connection) -> list[tuple[int, datetime]]:
    """Customers with a stage history and no source yet, with their first stage entry."""
    lead_at = sa.type_coerce(sa.func.min(stage_history.c.entered_at), TS).label("lead_at")
    rows = conn.execute(
        sa.select(stage_history.c.customer_id, lead_at)
        .where(~sa.exists().where(person_sources.c.customer_id == stage_history.c.customer_id))
        .group_by(stage_history.c.customer_id)
        .order_by(stage_history.c.customer_id)
    )
    return [(int(cid), at) for cid, at in rows]


def decide_sources(
    store: Store, settings: Settings, *, crm: str | None = None, chunk: int = CHUNK
) -> int:
    """Decide the source of every customer who has a stage and no source yet; returns how
    many were decided. ``crm`` overrides the configured CRM (see ``crm_connector``)."""
    started = time.perf_counter()
    crm = crm or settings.sources.crm or settings.handoff.crm
    with store.read() as conn:
        pending = undecided(conn)
    counts = {"marketing": 0, "sales": 0, "unknown": 0}
    decided = 0
    for part in _chunks(pending, chunk):
        with store.begin() as conn:
            rows = _decide_chunk(conn, dict(part), settings.sources, crm, store.now())
            decided += _insert_new(conn, rows)
        for row in rows:
            counts[row["source"]] += 1
    log.info(
        "sources.done",
        decided=decided,
        crm=crm,
        seconds=round(time.perf_counter() - started, 3),
        **counts,
    )
    return decided


def _decide_chunk(
    conn: Connection,
    lead_at: Mapping[int, datetime],
    rules: SourceSettings,
    crm: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    ids = list(lead_at)
    facts = {
        cid: Facts(lead_at=at, golden={}, created={}, tools=frozenset())
        for cid, at in lead_at.items()
    }
    for cid, golden in conn.execute(
        sa.select(customers.c.id, customers.c.golden).where(customers.c.id.in_(ids))
    ):
        facts[cid].golden = golden or {}
    created: dict[int, dict[str, datetime]] = {}
    for cid, connector, value in conn.execute(
        sa.select(claims.c.customer_id, claims.c.connector, claims.c.value).where(
            claims.c.field == CREATED_FIELD, claims.c.customer_id.in_(ids)
        )
    ):
        at = parse_time(value)
        if at is not None:
            created.setdefault(cid, {})[connector] = at
    tools: dict[int, set[str]] = {}
    for cid, connector in conn.execute(
        sa.select(links.c.customer_id, links.c.connector).where(
            links.c.customer_id.in_(ids), links.c.deleted_at.is_(None)
        )
    ):
        tools.setdefault(cid, set()).add(connector)
    _load_first_activities(conn, ids, facts)
    rows: list[dict[str, Any]] = []
    for cid, fact in facts.items():
        fact.created = created.get(cid, {})
        fact.tools = frozenset(tools.get(cid, ()))
        decision = decide(fact, rules, crm)
        rows.append(
            {
                "customer_id": cid,
                "source": decision.source,
                "detail": decision.detail,
                "rule": decision.rule,
                # A person who existed before the daemon first saw them was a lead since the
                # tools created them, not since our first scoring: KPIs date them by that.
                "lead_at": min([fact.lead_at, *fact.created.values()]),
                "first_seen": parse_time(fact.golden.get("first_seen")),
                "decided_at": now,
            }
        )
    return rows


def _load_first_activities(conn: Connection, ids: Sequence[int], facts: dict[int, Facts]) -> None:
    """Each person's earliest activity and earliest touch: one aggregate over the chunk, then
    the details of the touches that came first (few rows)."""
    is_touch = activities.c.type.in_(sorted(TOUCH_TYPES))
    first_any = sa.type_coerce(sa.func.min(activities.c.occurred_at), TS)
    first_touch = sa.type_coerce(
        sa.func.min(sa.case((is_touch, activities.c.occurred_at), else_=None)), TS
    )
    live = activities.c.deleted.is_(False)
    for cid, any_at, touch_at in conn.execute(
        sa.select(activities.c.customer_id, first_any, first_touch)
        .where(activities.c.customer_id.in_(ids), live)
        .group_by(activities.c.customer_id)
    ):
        facts[cid].first_any, facts[cid].first_touch = any_at, touch_at
    leading = [
        cid
        for cid, f in facts.items()
        if f.first_touch is not None and f.first_touch == f.first_any
    ]
    if not leading:
        return
    for cid, kind, at, fields, connector, ext in conn.execute(
        sa.select(
            activities.c.customer_id,
            activities.c.type,
            activities.c.occurred_at,
            activities.c.fields,
            activities.c.connector,
            activities.c.external_id,
        )
        .where(activities.c.customer_id.in_(leading), is_touch, live)
        .order_by(activities.c.customer_id, activities.c.connector, activities.c.external_id)
    ):
        fact = facts[cid]
        if at != fact.first_touch or fact.touch_detail is not None:
            continue
        fields = fields or {}
        what = ", ".join(
            str(fields[k]) for k in ("campaign", "channel") if fields.get(k) not in (None, "")
        )
        fact.touch_detail = f"{kind}{f' ({what})' if what else ''} at {at.isoformat()}"[:1000]
        del connector, ext  # ordered on for a stable choice among simultaneous touches


def _insert_new(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert rows whose person has no source yet; a concurrent decision is never replaced."""
    if not rows:
        return 0
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        # Counted by RETURNING: an executemany's rowcount is -1 on psycopg (PostgreSQL), which
        # made every decision look like a concurrent one's (decided = 0).
        query = insert(person_sources).on_conflict_do_nothing()
        return len(conn.execute(query.returning(person_sources.c.customer_id), rows).all())
    else:
        taken = set(
            conn.execute(
                sa.select(person_sources.c.customer_id).where(
                    person_sources.c.customer_id.in_([r["customer_id"] for r in rows])
                )
            ).scalars()
        )
        rows = [r for r in rows if r["customer_id"] not in taken]
        if not rows:
            return 0
        result = conn.execute(person_sources.insert(), rows)
    return max(result.rowcount, 0) if result.rowcount is not None else len(rows)
