"""What every part of the hand-off stage shares for one CRM: settings, store, rules, clocks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smarketing_sync.flow.runtime import Runtime
from smarketing_sync.handoff.calendar import BusinessCalendar
from smarketing_sync.scoring.model import GOLDEN_KEY
from smarketing_sync.settings import HandoffSettings, Settings, SlaSettings, StateRule
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import customers, handoff_events, handoffs
from smarketing_sync.store.state import next_rev


@dataclass(slots=True)
class HandoffStats:
    opened: int = 0
    moved: int = 0
    touched: int = 0
    created: int = 0
    retry_later: int = 0
    dead_lettered: int = 0
    waiting_for_person: int = 0
    breaches: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class Context:
    settings: Settings
    store: Store
    crm: Runtime
    rules: list[StateRule]
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    stats: HandoffStats = field(default_factory=HandoffStats)

    @property
    def config(self) -> HandoffSettings:
        return self.settings.handoff

    @property
    def sla(self) -> SlaSettings:
        return self.settings.sla


def default_rules(rt: Runtime) -> list[StateRule]:
    """The CRM connector's own default fact -> state rules (``handoff_rules`` on its class)."""
    declared = getattr(rt.cls, "handoff_rules", ())
    return [StateRule.model_validate(rule) for rule in declared]


def person_name(golden: Mapping[str, Any]) -> str:
    parts = [str(golden.get(k) or "").strip() for k in ("first_name", "last_name")]
    name = " ".join(p for p in parts if p)
    return name or str(golden.get("email") or "unknown person")


def calendar(ctx: Context, team: str | None) -> BusinessCalendar:
    name = team if team in ctx.sla.teams else ctx.sla.default_team
    if name not in ctx.calendars:
        ctx.calendars[name] = BusinessCalendar.from_settings(ctx.sla.team(name))
    return ctx.calendars[name]


def event(
    ctx: Context,
    conn: Connection,
    handoff_id: int,
    new: str,
    previous: str | None,
    at: datetime,
    source: str,
    reason: str | None = None,
) -> None:
    conn.execute(
        handoff_events.insert().values(
            handoff_id=handoff_id,
            state=new,
            previous=previous,
            at=at,
            source=source[:500],
            reason=reason,
        )
    )


def feedback(ctx: Context, conn: Connection, customer_ids: Iterable[int]) -> None:
    """Write each customer's latest hand-off as ``handoff.*`` computed values (pushed)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    latest: dict[int, Any] = {}
    for row in conn.execute(
        sa.select(handoffs)
        .where(handoffs.c.customer_id.in_(ids))
        .order_by(handoffs.c.handed_over_at, handoffs.c.id)
    ):
        latest[row.customer_id] = row
    updates = []
    for cid, golden in conn.execute(
        sa.select(customers.c.id, customers.c.golden).where(customers.c.id.in_(ids))
    ):
        last = latest.get(cid)
        if last is None:
            continue
        computed = dict(golden.get(GOLDEN_KEY) or {})
        wanted = {"handoff.status": last.state, "handoff.reason": last.reason or ""}
        ours = last.owner_id if last.owner_source == "assigned" else None
        # only an owner we chose is pushed: a person's choice is in the CRM already
        if all(computed.get(k) == v for k, v in wanted.items()) and (
            computed.get("handoff.owner") == ours
        ):
            continue
        computed.update(wanted)
        if ours:
            computed["handoff.owner"] = ours
        else:
            computed.pop("handoff.owner", None)
        updates.append({"cid": cid, "golden": {**golden, GOLDEN_KEY: computed}})
    if updates:
        rev = next_rev(conn)
        now = ctx.store.now()
        for item in updates:
            item.update(rev=rev, updated_at=now)
        conn.execute(customers.update().where(customers.c.id == sa.bindparam("cid")), updates)
