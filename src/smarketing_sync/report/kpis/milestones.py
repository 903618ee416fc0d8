"""One date per person and milestone (KPIS §1.2): first entry, "reached or passed".

A skipped stage takes the date of the earliest later milestone (GitLab's inferred date), except
``mql`` and ``sal``, which are never inferred for someone without a hand-off: a sales-generated
lead is not an MQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from smarketing_sync.report.facts import Facts

STEPS = ("lead", "mql", "sal", "sql", "opportunity", "customer")


@dataclass(slots=True)
class Milestones:
    lead: datetime | None = None
    mql: datetime | None = None
    sal: datetime | None = None
    sql: datetime | None = None
    opportunity: datetime | None = None
    customer: datetime | None = None
    inferred: set[str] = field(default_factory=set)  # milestones dated from a later one

    def at(self, step: str) -> datetime | None:
        value: datetime | None = getattr(self, step)
        return value


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    # called ~10 times per person: two arguments, no list
    if a is None:
        return b
    if b is None or a <= b:
        return a
    return b


def compute_milestones(facts: Facts) -> dict[int, Milestones]:
    first_entry: dict[int, dict[str, datetime]] = {}
    for pid, person in facts.people.items():
        entries: dict[str, datetime] = {}
        for stage, at in person.stages:  # time order: the first entry wins
            entries.setdefault(stage, at)
        first_entry[pid] = entries
    first_handoff: dict[int, datetime] = {}
    first_accept: dict[int, datetime] = {}
    first_convert: dict[int, datetime] = {}
    for h in facts.handoffs:
        _keep_min(first_handoff, h.person_id, h.handed_over_at)
        if h.decision == "accepted" and h.decided_at is not None:
            _keep_min(first_accept, h.person_id, h.decided_at)
        if h.outcome == "converted" and h.outcome_at is not None:
            _keep_min(first_convert, h.person_id, h.outcome_at)
    first_deal: dict[int, datetime] = {}
    first_won: dict[int, datetime] = {}
    for d in facts.deals:
        if d.person_id is None:
            continue
        if d.created_at is not None:
            _keep_min(first_deal, d.person_id, d.created_at)
        if d.status == "won" and d.won_at is not None:
            _keep_min(first_won, d.person_id, d.won_at)
    out: dict[int, Milestones] = {}
    for pid, person in facts.people.items():
        entries = first_entry[pid]
        m = Milestones()
        m.customer = _earliest(first_won.get(pid), entries.get("customer"))
        own_opp = _earliest(first_deal.get(pid), entries.get("opportunity"))
        m.opportunity = _earliest(own_opp, m.customer)
        own_sql = _earliest(entries.get("sql"), first_convert.get(pid))
        m.sql = _earliest(own_sql, m.opportunity)
        m.mql = _earliest(entries.get("mql"), first_handoff.get(pid))
        own_sal = first_accept.get(pid)
        inferred_sal = m.sql if m.mql is not None and m.sql is not None and m.sql >= m.mql else None
        m.sal = _earliest(own_sal, inferred_sal)
        own_lead = _earliest(entries.get("lead"), person.lead_at)
        m.lead = _earliest(_earliest(own_lead, m.mql), _earliest(m.sal, m.sql))
        for step, own in (
            ("lead", own_lead),
            ("sal", own_sal),
            ("sql", own_sql),
            ("opportunity", own_opp),
        ):
            value = m.at(step)
            if value is not None and (own is None or own > value):
                m.inferred.add(step)
        out[pid] = m
    return out


def _keep_min(target: dict[int, datetime], key: int, at: datetime) -> None:
    current = target.get(key)
    if current is None or at < current:
        target[key] = at
