"""Velocity: K4 lead→customer and V2 MQL→SQL as Kaplan–Meier over cohorts, V1 stage medians.

Members still open at ``as_of`` are censored there; exits (disqualified, lost, rejected) stay in
the risk set until ``as_of`` too (KPIS §1.4, decision 4), so ``1 − S(t)`` reads as the share of
the cohort converted by t.
"""

from __future__ import annotations

from dataclasses import dataclass

from smarketing_sync.report.kpis.context import Context, days
from smarketing_sync.report.kpis.stats import KaplanMeier, kaplan_meier, median

TRANSITIONS = (("lead", "mql"), ("mql", "sql"), ("sql", "opportunity"), ("opportunity", "customer"))


@dataclass(slots=True)
class TimeToConvert:
    km: KaplanMeier
    converters: list[float]  # days of the members who converted (secondary, biased low)
    members: list[int]  # person ids


def time_to_convert(ctx: Context, start: str, end: str) -> TimeToConvert:
    """KM of ``t_end − t_start`` over people with ``t_start`` in the report range."""
    observations: list[tuple[float, bool]] = []
    converters: list[float] = []
    members: list[int] = []
    for pid, m in ctx.milestones.items():
        begin = m.at(start)
        if begin is None or not ctx.in_range(begin):
            continue
        members.append(pid)
        done = m.at(end)
        if done is not None:
            span = max(0.0, days(begin, done))
            observations.append((span, True))
            converters.append(span)
        else:
            observations.append((days(begin, ctx.as_of), False))
    return TimeToConvert(kaplan_meier(observations), converters, members)


def stage_velocity(ctx: Context) -> dict[str, tuple[float | None, int]]:
    """V1: median days per transition over people who completed it in the range (biased low)."""
    out: dict[str, tuple[float | None, int]] = {}
    for start, end in TRANSITIONS:
        spans = []
        for m in ctx.milestones.values():
            begin, done = m.at(start), m.at(end)
            if begin is not None and done is not None and ctx.in_range(done) and done >= begin:
                spans.append(days(begin, done))
        out[f"{start}_to_{end}"] = (median(spans), len(spans))
    return out
