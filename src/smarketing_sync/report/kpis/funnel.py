"""Volume and conversion: K1 hand-offs, F1 stage volume, F2/K2 cohort conversion, F3 funnel,
F4 acceptance, F5 detours, F6 lead velocity, F7 stage balance."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from smarketing_sync.report.facts import SOURCES, Handoff
from smarketing_sync.report.kpis.context import Context, days
from smarketing_sync.report.kpis.milestones import STEPS
from smarketing_sync.report.kpis.stats import median

#: What a hand-off can lead to, in order (KPIS §4.4).
HANDOFF_STEPS = ("accepted", "sql", "opportunity", "customer")
#: Sales-generated leads enter at SQL: their funnel has no MQL or SAL step (Sirius SGL).
FUNNEL_STEPS = {
    "marketing": STEPS,
    "sales": ("lead", "sql", "opportunity", "customer"),
    "unknown": STEPS,
}


def handoffs_in(ctx: Context, month: str) -> list[Handoff]:
    """K1: every hand-off handed over in the month counts, re-hand-offs too."""
    return list(ctx.by_month("handoffs").get(month, []))


def stage_entries(ctx: Context) -> dict[str, dict[str, list[int]]]:
    """F1: month → milestone → people whose (first) milestone date lies in that month."""
    out: dict[str, dict[str, list[int]]] = {}
    for pid, m in ctx.milestones.items():
        for step in STEPS:
            at = m.at(step)
            if at is not None:
                out.setdefault(ctx.month(at), {}).setdefault(step, []).append(pid)
    return out


def detours(ctx: Context) -> dict[str, dict[str, list[tuple[int, datetime]]]]:
    """F5: month → recycled/disqualified → every stage entry (not only the first)."""
    out: dict[str, dict[str, list[tuple[int, datetime]]]] = {}
    for pid, person in ctx.facts.people.items():
        for stage, at in person.stages:
            if stage in ("recycled", "disqualified"):
                out.setdefault(ctx.month(at), {}).setdefault(stage, []).append((pid, at))
    return out


def lead_velocity_rate(this_month: int, last_month: int) -> float | None:
    """F6: (new MQL people this month − last month) ÷ last month."""
    return None if last_month == 0 else (this_month - last_month) / last_month


def handoff_step_time(ctx: Context, h: Handoff, step: str) -> datetime | None:
    """When hand-off ``h`` reached ``step``: the person's earliest milestone at or past it that
    lies between this hand-off and the person's next one, so one customer credits exactly one
    hand-off (K2). A hand-off accepted by sales is "accepted" at its decision time."""
    m = ctx.milestones.get(h.person_id)
    if m is None:
        return None
    end = ctx.next_handoff(h)
    candidates: list[datetime] = []
    if step == "accepted" and h.decision == "accepted" and h.decided_at is not None:
        candidates.append(h.decided_at)
    if step in ("accepted", "sql") and h.outcome == "converted" and h.outcome_at is not None:
        candidates.append(h.outcome_at)
    later = HANDOFF_STEPS[HANDOFF_STEPS.index(step) :]
    for name in later:
        if name == "accepted":
            continue
        at = m.at(name)
        if at is not None and at >= h.handed_over_at and (end is None or at < end):
            candidates.append(at)
    return min(candidates) if candidates else None


@dataclass(slots=True)
class Cohort:
    month: str
    members: list[int]  # hand-off ids (or person ids for person cohorts)
    mature: bool
    to_date: dict[str, list[int]] = field(default_factory=dict)
    within: dict[str, list[int]] = field(default_factory=dict)

    def rate(self, step: str, *, within: bool) -> float | None:
        hits = (self.within if within else self.to_date).get(step, [])
        return len(hits) / len(self.members) if self.members else None


def handoff_cohorts(ctx: Context, months: list[str]) -> list[Cohort]:
    """F2/K2: hand-offs by hand-off month, followed to date and within W."""
    out = []
    for month in months:
        members = handoffs_in(ctx, month)
        cohort = Cohort(
            month=month,
            members=[h.id for h in members],
            mature=all(h.handed_over_at + ctx.window <= ctx.as_of for h in members),
        )
        for step in HANDOFF_STEPS:
            cohort.to_date[step] = []
            cohort.within[step] = []
        for h in members:
            for step in HANDOFF_STEPS:
                at = handoff_step_time(ctx, h, step)
                if at is None:
                    continue
                cohort.to_date[step].append(h.id)
                if at <= h.handed_over_at + ctx.window:
                    cohort.within[step].append(h.id)
        out.append(cohort)
    return out


def pooled_mature_rate(cohorts: list[Cohort], step: str) -> tuple[float | None, int, int]:
    """K2 headline: within-W hits ÷ members over the mature cohorts only."""
    mature = [c for c in cohorts if c.mature]
    members = sum(len(c.members) for c in mature)
    hits = sum(len(c.within[step]) for c in mature)
    return (hits / members if members else None), hits, members


def lead_to_mql_cohorts(ctx: Context, months: list[str]) -> list[Cohort]:
    """F2 lead→MQL: marketing-sourced leads only (a sales lead never becomes an MQL)."""
    out = []
    for month in months:
        members = [
            pid
            for pid, m in ctx.milestones.items()
            if m.lead is not None and ctx.month(m.lead) == month and ctx.source(pid) == "marketing"
        ]
        cohort = Cohort(
            month=month,
            members=members,
            mature=all(ctx.milestones[p].lead + ctx.window <= ctx.as_of for p in members),  # type: ignore[operator]
            to_date={"mql": []},
            within={"mql": []},
        )
        for pid in members:
            m = ctx.milestones[pid]
            if m.mql is not None and m.lead is not None:
                cohort.to_date["mql"].append(pid)
                if m.mql <= m.lead + ctx.window:
                    cohort.within["mql"].append(pid)
        out.append(cohort)
    return out


def funnel(ctx: Context) -> dict[str, list[tuple[str, list[int]]]]:
    """F3: the lead cohort of the range per source, people reaching each step to date."""
    out: dict[str, list[tuple[str, list[int]]]] = {}
    for source in SOURCES:
        cohort = [
            pid
            for pid, m in ctx.milestones.items()
            if ctx.in_range(m.lead) and ctx.source(pid) == source
        ]
        if not cohort and source == "unknown":
            continue
        out[source] = [
            (step, [p for p in cohort if ctx.milestones[p].at(step) is not None])
            for step in FUNNEL_STEPS[source]
        ]
    return out


def acceptance(ctx: Context, month: str) -> tuple[list[Handoff], list[Handoff], Counter[str]]:
    """F4 for a hand-off month: (decided, accepted, rejection reasons); pending ones excluded."""
    decided = [h for h in handoffs_in(ctx, month) if h.decision is not None]
    accepted = [h for h in decided if h.decision == "accepted"]
    reasons = Counter((h.reason or "(no reason)") for h in decided if h.decision == "rejected")
    return decided, accepted, reasons


def stage_balance(ctx: Context) -> dict[str, tuple[int, float | None]]:
    """F7: people per current stage at ``as_of`` and their median days in it."""
    ages: dict[str, list[float]] = {}
    for person in ctx.facts.people.values():
        if person.stages:
            stage, since = person.stages[-1]
            ages.setdefault(stage, []).append(days(since, ctx.as_of))
    return {stage: (len(values), median(values)) for stage, values in sorted(ages.items())}
