"""Everything the KPIs read, as plain data: a snapshot of the store (or of a facts file) at
``as_of``.

Both loaders end in ``at_as_of``: nothing after ``as_of`` is kept, and hand-offs and deals take
the state they had at ``as_of`` (a deal won later is still open then). The file format is
documented in docs/kpis.md ("Facts file"); ``facts_to_json`` writes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smarketing_sync.mapping.model import TOUCH_TYPES as MARKETING_TOUCHES

if TYPE_CHECKING:
    from smarketing_sync.store.db import Store

SOURCES = ("marketing", "sales", "unknown")
#: Marketing engagement activities (KPIS §1.7; email opens excluded), as the mapping defines them.
TOUCH_TYPES = tuple(sorted(MARKETING_TOUCHES))

StageEntry = tuple[str, datetime]


@dataclass(slots=True)
class Person:
    id: int
    email: str | None = None
    source: str = "unknown"  # marketing | sales | unknown, fixed at lead creation
    first_seen: datetime | None = None  # first tracked web visit
    lead_at: datetime | None = None  # when the source was decided (lead creation)
    stages: list[StageEntry] = field(default_factory=list)  # every entry, in time order


@dataclass(slots=True)
class Handoff:
    id: int
    person_id: int
    handed_over_at: datetime
    owner_id: str | None = None
    team: str | None = None
    decision: str | None = None  # accepted | rejected (a straight conversion counts as accepted)
    decided_at: datetime | None = None
    reason: str | None = None
    outcome: str | None = None  # converted | recycled
    outcome_at: datetime | None = None
    first_touch_at: datetime | None = None  # first call/email/meeting by the owner
    decision_due_at: datetime | None = None  # None: computed from the SLA calendar
    touch_due_at: datetime | None = None
    model_version: str | None = None  # scoring model that made the person an MQL


@dataclass(slots=True)
class Deal:
    id: str
    person_id: int | None
    status: str  # open | won | lost, as at as_of
    amount: float | None
    currency: str | None
    created_at: datetime | None
    won_at: datetime | None = None
    lost_at: datetime | None = None
    lost_reason: str | None = None
    owner: str | None = None


@dataclass(slots=True)
class Touch:
    at: datetime
    type: str
    campaign: str | None = None
    channel: str | None = None


@dataclass(slots=True)
class Cost:
    campaign: str
    month: str  # YYYY-MM
    amount: float
    currency: str
    channel: str | None = None


@dataclass(slots=True)
class Facts:
    as_of: datetime
    people: dict[int, Person]
    handoffs: list[Handoff]
    deals: list[Deal]
    touches: dict[int, list[Touch]]  # per person, in time order
    costs: list[Cost]
    #: Sections a facts file may carry ("report", "sla", "range"); empty when read from a store.
    config: dict[str, Any] = field(default_factory=dict)


def at_as_of(facts: Facts) -> Facts:
    """Drop what happened after ``as_of`` and roll hand-offs and deals back to their state then."""
    cut = facts.as_of
    for person in facts.people.values():
        person.stages = sorted((s for s in person.stages if s[1] <= cut), key=lambda s: s[1])
        if person.first_seen is not None and person.first_seen > cut:
            person.first_seen = None
        if person.lead_at is not None and person.lead_at > cut:
            person.lead_at = None
    handoffs = []
    for h in facts.handoffs:
        if h.handed_over_at > cut:
            continue
        if h.decided_at is None or h.decided_at > cut:
            h.decision = h.decided_at = None
            if h.outcome is None or h.outcome_at is None or h.outcome_at > cut:
                h.reason = None
        if h.outcome_at is None or h.outcome_at > cut:
            h.outcome = h.outcome_at = None
        if h.first_touch_at is not None and h.first_touch_at > cut:
            h.first_touch_at = None
        handoffs.append(h)
    deals = []
    for d in facts.deals:
        first = d.created_at or d.won_at or d.lost_at
        if first is None or first > cut:
            continue
        if d.won_at is not None and d.won_at > cut:
            d.won_at = None
        if d.lost_at is not None and d.lost_at > cut:
            d.lost_at = None
        if (d.status == "won" and d.won_at is None) or (d.status == "lost" and d.lost_at is None):
            d.status = "open"
        if d.status not in ("won", "lost"):
            d.status = "open"
            d.won_at = d.lost_at = None
        deals.append(d)
    last_month = f"{cut.year:04d}-{cut.month:02d}"
    facts.handoffs = sorted(handoffs, key=lambda h: (h.handed_over_at, h.id))
    facts.deals = deals
    facts.touches = {
        pid: kept
        for pid, touches in facts.touches.items()
        if (kept := sorted((t for t in touches if t.at <= cut), key=lambda t: t.at))
    }
    facts.costs = [c for c in facts.costs if c.month <= last_month]
    return facts


def facts_from_file(path: Path) -> Facts:
    """Read a facts file (docs/kpis.md, "Facts file"); errors name the file, record and key."""
    from smarketing_sync.report.facts_file import read_facts_file

    return read_facts_file(path)


def facts_to_json(facts: Facts) -> dict[str, Any]:
    """The facts file form of ``facts`` (what ``facts_from_file`` reads back)."""
    from smarketing_sync.report.facts_file import write_facts_json

    return write_facts_json(facts)


def load_facts(store: Store, as_of: datetime, *, sla_touch_types: Sequence[str]) -> Facts:
    """The facts of the store at ``as_of`` (see ``store_facts``)."""
    from smarketing_sync.report.store_facts import load_facts as load

    return load(store, as_of, sla_touch_types=sla_touch_types)
