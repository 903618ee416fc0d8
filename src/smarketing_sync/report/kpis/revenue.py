"""Value: K3/K5/K6 closed-won amounts, K7 first visit to purchase, K8 ROI, R1–R7, A4, A5, V3, V4.

"Revenue" is the closed-won amount of CRM deals (bookings) bucketed by won time (KPIS §1.6).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from smarketing_sync.report.facts import SOURCES, Deal
from smarketing_sync.report.kpis.context import Context, days
from smarketing_sync.report.kpis.money import Money
from smarketing_sync.report.kpis.stats import mean, median


def total(ctx: Context, deals: Iterable[Deal]) -> Money:
    return ctx.money.total((d.amount, d.currency) for d in deals)


def won_in(ctx: Context, month: str) -> list[Deal]:
    return list(ctx.by_month("won").get(month, []))


def lost_in(ctx: Context, month: str) -> list[Deal]:
    return list(ctx.by_month("lost").get(month, []))


def created_in(ctx: Context, month: str) -> list[Deal]:
    return list(ctx.by_month("created").get(month, []))


def won_from_leads(ctx: Context, deals: list[Deal]) -> list[Deal]:
    """K3: won deals whose person was a lead by the time it was won (K6 − K3: no person)."""
    out = []
    for d in deals:
        m = None if d.person_id is None else ctx.milestones.get(d.person_id)
        if m is not None and m.lead is not None and d.won_at is not None and m.lead <= d.won_at:
            out.append(d)
    return out


def by_source(ctx: Context, deals: list[Deal]) -> dict[str, list[Deal]]:
    """K5/R4/R5: grouped by the deal's primary person's source, fixed at lead creation."""
    out: dict[str, list[Deal]] = {s: [] for s in SOURCES}
    for d in deals:
        out[ctx.deal_source(d)].append(d)
    return out


def influenced(ctx: Context, deals: list[Deal]) -> list[Deal]:
    """R6: won deals whose person had a marketing touch before ``won_at`` (overlaps sourced)."""
    out = []
    for d in deals:
        touches = ctx.facts.touches.get(d.person_id or -1, [])
        if d.won_at is not None and touches and touches[0].at < d.won_at:
            out.append(d)
    return out


def open_pipeline(ctx: Context) -> list[Deal]:
    """R5: deals open at ``as_of``."""
    return [d for d in ctx.facts.deals if d.status == "open"]


def win_rate(won: int, lost: int) -> float | None:
    """R1 on the closed basis: open deals never enter the denominator."""
    return won / (won + lost) if won + lost else None


def cycle_days(deals: list[Deal]) -> list[float]:
    """V3: days from creation to win."""
    return [days(d.created_at, d.won_at) for d in deals if d.created_at and d.won_at]


@dataclass(slots=True)
class FirstVisit:
    """K7 for the deals won in a month."""

    median_days: float | None
    median_touches: float | None
    covered: int
    won: int


def first_visit_to_purchase(ctx: Context, deals: list[Deal]) -> FirstVisit:
    spans: list[float] = []
    counts: list[float] = []
    for d in deals:
        person = None if d.person_id is None else ctx.facts.people.get(d.person_id)
        if person is None or person.first_seen is None or d.won_at is None:
            continue
        spans.append(days(person.first_seen, d.won_at))
        touches = ctx.facts.touches.get(person.id, [])
        counts.append(float(sum(1 for t in touches if person.first_seen <= t.at <= d.won_at)))
    return FirstVisit(median(spans), median(counts), len(spans), len(deals))


def cost(ctx: Context, months: Iterable[str]) -> Money:
    """Σ campaign cost of the months (in report currency; unconvertible costs kept apart)."""
    wanted = set(months)
    return ctx.money.total((c.amount, c.currency) for c in ctx.facts.costs if c.month in wanted)


def roi(revenue: float, spend: float, margin: float | None) -> float | None:
    """K8/A2: (revenue × margin − spend) ÷ spend; revenue-based when no margin is configured."""
    if spend <= 0:
        return None
    return (revenue * (margin if margin is not None else 1.0) - spend) / spend


def new_customers(ctx: Context) -> list[int]:
    """A4 denominator: people whose first won deal lies in the range."""
    return [pid for pid, m in ctx.milestones.items() if ctx.in_range(m.customer)]


def cohort_win_rate(ctx: Context, month: str) -> tuple[int, int, int]:
    """R2: deals created in the month → (created, won to date, lost to date)."""
    deals = created_in(ctx, month)
    return (
        len(deals),
        sum(1 for d in deals if d.status == "won"),
        sum(1 for d in deals if d.status == "lost"),
    )


def sales_velocity(
    open_count: int, rate: float | None, avg_won: float | None, mean_cycle: float | None
) -> float | None:
    """V4: open opportunities × win rate × average won deal ÷ mean cycle (per day)."""
    if rate is None or avg_won is None or not mean_cycle:
        return None
    return open_count * rate * avg_won / mean_cycle


def mean_or_none(values: list[float]) -> float | None:
    return mean(values)
