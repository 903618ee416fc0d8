"""All KPI values of a report under their machine keys (KPIS §2), per month and for the range.

``build`` turns this into sections; JSON consumers and tests read it as ``Report.data``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from smarketing_sync.report.facts import SOURCES
from smarketing_sync.report.kpis import attribution, funnel, revenue, sla, velocity
from smarketing_sync.report.kpis.context import Context
from smarketing_sync.report.kpis.milestones import STEPS
from smarketing_sync.report.kpis.months import is_full, shift
from smarketing_sync.report.kpis.stats import mean, median, percentile


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def compute(ctx: Context) -> dict[str, Any]:
    months = ctx.options.months
    entries = funnel.stage_entries(ctx)
    detours = funnel.detours(ctx)
    checks = sla.clocks(ctx, [h for h in ctx.facts.handoffs if ctx.in_range(h.handed_over_at)])
    by_month: dict[str, dict[str, Any]] = {}
    for month in months:
        by_month[month] = _month(ctx, month, entries, detours, checks)
    data: dict[str, Any] = {
        "as_of": ctx.as_of.isoformat(),
        "timezone": ctx.options.timezone,
        "currency": ctx.options.currency,
        "months": list(months),
        "full_months": [m for m in months if is_full(m, ctx.as_of, ctx.tz)],
        "attribution": ctx.options.model,
        "window_days": ctx.options.window_days,
        "by_month": by_month,
    }
    data["cohorts"] = _cohorts(ctx)
    data["range"] = _range(ctx, by_month, checks)
    data["funnel"] = {
        source: [{"step": step, "count": len(people)} for step, people in steps]
        for source, steps in funnel.funnel(ctx).items()
    }
    data["velocity"] = _velocity(ctx)
    data["sla_open_breaches"] = _open_breaches(ctx)
    data["stage_balance"] = {
        stage: {"count": n, "median_days": _r(age, 2)}
        for stage, (n, age) in funnel.stage_balance(ctx).items()
    }
    data["campaigns"] = _campaigns(ctx)
    data["data_quality"] = _quality(ctx, by_month)
    return data


def _month(
    ctx: Context,
    month: str,
    entries: dict[str, dict[str, list[int]]],
    detours: dict[str, dict[str, list[Any]]],
    checks: list[sla.Clock],
) -> dict[str, Any]:
    handoffs = funnel.handoffs_in(ctx, month)
    volume = entries.get(month, {})
    previous_mql = len(entries.get(shift(month, -1), {}).get("mql", []))
    won = revenue.won_in(ctx, month)
    lost = revenue.lost_in(ctx, month)
    total = revenue.total(ctx, won)
    sources = {s: revenue.total(ctx, deals) for s, deals in revenue.by_source(ctx, won).items()}
    created = revenue.by_source(ctx, revenue.created_in(ctx, month))
    visit = revenue.first_visit_to_purchase(ctx, won)
    cycle = revenue.cycle_days(won)
    month_checks = [c for c in checks if ctx.month(c.handoff.handed_over_at) == month]
    s1, s1_met, s1_n = sla.met_rate(month_checks, "decision")
    s2, s2_met, s2_n = sla.met_rate(month_checks, "first_touch")
    s1b, _, _ = sla.accepted_within(month_checks)
    decided, accepted, reasons = funnel.acceptance(ctx, month)
    cost = revenue.cost(ctx, [month])
    mql_people = len(volume.get("mql", []))
    return {
        "handoffs": len(handoffs),
        "handoffs_unique_people": len({h.person_id for h in handoffs}),
        "stage_volume": {step: len(volume.get(step, [])) for step in STEPS},
        "stage_volume_by_source": {
            source: {
                step: sum(1 for p in volume.get(step, []) if ctx.source(p) == source)
                for step in STEPS
            }
            for source in SOURCES
        },
        "recycled": len(detours.get(month, {}).get("recycled", [])),
        "disqualified": len(detours.get(month, {}).get("disqualified", [])),
        "lead_velocity_rate": _r(funnel.lead_velocity_rate(mql_people, previous_mql)),
        "same_period_sql_per_mql": (
            _r(len(volume.get("sql", [])) / mql_people) if mql_people else None
        ),
        "won_revenue_total": round(total.total, 2),
        "won_deals": total.count,
        "won_revenue_unconverted": total.unconverted,
        "won_revenue_from_leads": round(
            revenue.total(ctx, revenue.won_from_leads(ctx, won)).total, 2
        ),
        "won_revenue_by_source": {s: round(m.total, 2) for s, m in sources.items()},
        "marketing_share": _r(sources["marketing"].total / total.total) if total.total else None,
        "influenced_revenue": round(revenue.total(ctx, revenue.influenced(ctx, won)).total, 2),
        "win_rate": _r(revenue.win_rate(len(won), len(lost))),
        "avg_won_deal": _r(total.total / (total.count - _n_unconverted(ctx, won)), 2)
        if total.count - _n_unconverted(ctx, won)
        else None,
        "pipeline_created": {s: round(revenue.total(ctx, d).total, 2) for s, d in created.items()},
        "first_visit_to_purchase": {
            "median_days": _r(visit.median_days, 2),
            "median_touches": visit.median_touches,
            "coverage": _r(visit.covered / visit.won) if visit.won else None,
        },
        "sales_cycle": {"median_days": _r(median(cycle), 2), "mean_days": _r(mean(cycle), 2)},
        "marketing_cost": round(cost.total, 2),
        "sla_decision_met_rate": _r(s1),
        "sla_decision_met": s1_met,
        "sla_decision_evaluable": s1_n,
        "sla_decision_accepted_rate": _r(s1b),
        "sla_first_touch_met_rate": _r(s2),
        "sla_first_touch_met": s2_met,
        "sla_first_touch_evaluable": s2_n,
        "sla_breaches": (s1_n - s1_met) + (s2_n - s2_met),
        "sla_pending": sum(1 for c in month_checks if not c.evaluable),
        "acceptance_rate": _r(len(accepted) / len(decided)) if decided else None,
        "rejection_reasons": dict(sorted(reasons.items())),
    }


def _n_unconverted(ctx: Context, deals: list[Any]) -> int:
    return sum(1 for d in deals if ctx.amount(d) is None)


def _cohorts(ctx: Context) -> dict[str, Any]:
    handoff = funnel.handoff_cohorts(ctx, ctx.options.months)
    leads = funnel.lead_to_mql_cohorts(ctx, ctx.options.months)
    out: dict[str, Any] = {}
    for cohort, lead in zip(handoff, leads, strict=True):
        out[cohort.month] = {
            "handoffs": len(cohort.members),
            "mature": cohort.mature,
            "to_date": {s: _r(cohort.rate(s, within=False)) for s in funnel.HANDOFF_STEPS},
            "within_window": {s: _r(cohort.rate(s, within=True)) for s in funnel.HANDOFF_STEPS},
            "customers_to_date": len(cohort.to_date["customer"]),
            "customers_within_window": len(cohort.within["customer"]),
            "lead_to_mql": {
                "leads": len(lead.members),
                "mature": lead.mature,
                "to_date": _r(lead.rate("mql", within=False)),
                "within_window": _r(lead.rate("mql", within=True)),
            },
        }
    rate, hits, members = funnel.pooled_mature_rate(handoff, "customer")
    out["pooled_mature"] = {
        "handoff_to_customer_rate": _r(rate),
        "customers": hits,
        "handoffs": members,
    }
    return out


def _km(result: velocity.TimeToConvert, target_days: float | None) -> dict[str, Any]:
    km = result.km
    return {
        "median_days": _r(km.median, 2),
        "not_reached": km.median is None,
        "last_time_days": _r(km.last_time, 2),
        "n": km.n,
        "events": km.events,
        "censored": km.censored,
        "converters_median_days": _r(median(result.converters), 2),
        "share_within_target": None if target_days is None else _r(1 - km.survival(target_days)),
    }


def _velocity(ctx: Context) -> dict[str, Any]:
    targets = ctx.options.targets
    return {
        "lead_to_customer_time": _km(
            velocity.time_to_convert(ctx, "lead", "customer"), targets.get("lead_to_customer_time")
        ),
        "mql_to_sql_time": _km(
            velocity.time_to_convert(ctx, "mql", "sql"), targets.get("mql_to_sql_time")
        ),
        "stage_velocity": {
            name: {"median_days": _r(value, 2), "n": n}
            for name, (value, n) in velocity.stage_velocity(ctx).items()
        },
    }


def _range(
    ctx: Context, by_month: dict[str, dict[str, Any]], checks: list[sla.Clock]
) -> dict[str, Any]:
    months = ctx.options.months
    won = [d for m in months for d in revenue.won_in(ctx, m)]
    lost = [d for m in months for d in revenue.lost_in(ctx, m)]
    created = [d for m in months for d in revenue.created_in(ctx, m)]
    total = revenue.total(ctx, won)
    sourced = revenue.by_source(ctx, won)
    marketing_won = revenue.total(ctx, sourced["marketing"])
    spend = revenue.cost(ctx, months)
    mkt_pipeline = revenue.total(ctx, revenue.by_source(ctx, created)["marketing"])
    customers = revenue.new_customers(ctx)
    cycle = revenue.cycle_days(won)
    rate = revenue.win_rate(len(won), len(lost))
    converted_won = total.count - _n_unconverted(ctx, won)
    avg = total.total / converted_won if converted_won else None
    open_deals = revenue.open_pipeline(ctx)
    s1, s1_met, s1_n = sla.met_rate(checks, "decision")
    s2, s2_met, s2_n = sla.met_rate(checks, "first_touch")
    decided = [
        c.business_hours for c in checks if c.clock == "decision" and c.business_hours is not None
    ]
    touched = [
        c.business_hours
        for c in checks
        if c.clock == "first_touch" and c.business_hours is not None
    ]
    handoffs = [h for h in ctx.facts.handoffs if ctx.in_range(h.handed_over_at)]
    reasons: Counter[str] = Counter()
    for month in months:
        reasons.update(by_month[month]["rejection_reasons"])
    decisions = [h for h in handoffs if h.decision is not None]
    return {
        "handoffs": len(handoffs),
        "handoffs_unique_people": len({h.person_id for h in handoffs}),
        "handoff_to_customer_rate": None,  # filled from the pooled mature cohorts below
        "won_revenue_total": round(total.total, 2),
        "won_revenue_unconverted": total.unconverted,
        "won_deals": total.count,
        "won_revenue_from_leads": round(
            revenue.total(ctx, revenue.won_from_leads(ctx, won)).total, 2
        ),
        "won_revenue_by_source": {
            s: round(revenue.total(ctx, d).total, 2) for s, d in sourced.items()
        },
        "influenced_revenue": round(revenue.total(ctx, revenue.influenced(ctx, won)).total, 2),
        "marketing_sourced_share": _r(marketing_won.total / total.total) if total.total else None,
        "marketing_cost": round(spend.total, 2),
        "marketing_cost_unconverted": spend.unconverted,
        "marketing_roi": _r(revenue.roi(marketing_won.total, spend.total, ctx.options.margin)),
        "marketing_roi_basis": "margin" if ctx.options.margin is not None else "revenue",
        "margin": ctx.options.margin,
        "pipeline_to_spend": _r(mkt_pipeline.total / spend.total) if spend.total else None,
        "program_cac": _r(spend.total / len(customers), 2) if customers else None,
        "new_customers": len(customers),
        "win_rate": _r(rate),
        "avg_won_deal": _r(avg, 2),
        "sales_cycle": {"median_days": _r(median(cycle), 2), "mean_days": _r(mean(cycle), 2)},
        "open_pipeline": {
            s: round(revenue.total(ctx, d).total, 2)
            for s, d in revenue.by_source(ctx, open_deals).items()
        },
        "open_deals": len(open_deals),
        "sales_velocity": _r(revenue.sales_velocity(len(open_deals), rate, avg, mean(cycle)), 2),
        "sla_decision_met_rate": _r(s1),
        "sla_decision_met": s1_met,
        "sla_decision_evaluable": s1_n,
        "sla_first_touch_met_rate": _r(s2),
        "sla_first_touch_met": s2_met,
        "sla_first_touch_evaluable": s2_n,
        "sla_decision_bh": {
            "median": _r(median(decided), 2),
            "p90": _r(percentile(decided, 0.9), 2),
        },
        "sla_first_touch_bh": {
            "median": _r(median(touched), 2),
            "p90": _r(percentile(touched, 0.9), 2),
        },
        "sla_open_breaches": 0,  # filled below from the snapshot list
        "acceptance_rate": _r(
            sum(1 for h in decisions if h.decision == "accepted") / len(decisions)
        )
        if decisions
        else None,
        "rejection_reasons": dict(sorted(reasons.items())),
    }


def _open_breaches(ctx: Context) -> list[dict[str, Any]]:
    """S5: every hand-off (any month) whose clock is past due at ``as_of`` and still running."""
    out = []
    for c in sla.clocks(ctx, ctx.facts.handoffs):
        if not c.open_breach:
            continue
        person = ctx.facts.people.get(c.handoff.person_id)
        out.append(
            {
                "handoff": c.handoff.id,
                "person": c.handoff.person_id,
                "email": None if person is None else person.email,
                "owner": c.handoff.owner_id,
                "clock": c.clock,
                "due": c.due.isoformat(),
                "overdue_bh": _r(c.overdue_bh, 2),
            }
        )
    return sorted(out, key=lambda b: (b["due"], b["handoff"], b["clock"]))


def _campaigns(ctx: Context) -> dict[str, Any]:
    margin = ctx.options.margin
    out = {}
    for name, row in sorted(attribution.campaign_table(ctx, ctx.options.model).items()):
        cost = row.cost.total
        out[name] = {
            "channel": row.channel,
            "cost": round(cost, 2),
            "cost_unconverted": row.cost.unconverted,
            "leads": len(row.leads),
            "mqls": len(row.mqls),
            "customers": len(row.customers),
            "attributed_revenue": round(row.revenue, 2),
            "attributed_unconverted": {k: round(v, 2) for k, v in row.unconverted.items()},
            "campaign_roi": _r(row.roi(margin)),
            "cost_per_lead": _r(cost / len(row.leads), 2) if row.leads and cost else None,
            "cost_per_mql": _r(cost / len(row.mqls), 2) if row.mqls and cost else None,
            "cost_per_customer": _r(cost / len(row.customers), 2)
            if row.customers and cost
            else None,
        }
    return out


def _quality(ctx: Context, by_month: dict[str, dict[str, Any]]) -> dict[str, Any]:
    months = ctx.options.months
    inferred: Counter[str] = Counter()
    for m in ctx.milestones.values():  # only those the range's figures can have used
        inferred.update(step for step in m.inferred if ctx.in_range(m.at(step)))
    won = [d for month in months for d in revenue.won_in(ctx, month)]
    other: dict[str, float] = {}
    for d in ctx.facts.deals:
        if d.currency and d.currency.upper() != ctx.options.currency:
            code = d.currency.upper()
            other[code] = other.get(code, 0.0) + 1
    return {
        "unknown_source_people": sum(
            1 for pid, m in ctx.milestones.items() if m.lead and ctx.source(pid) == "unknown"
        ),
        "won_deals_without_person": sum(1 for d in won if d.person_id is None),
        "won_revenue_without_person": round(
            sum(
                by_month[m]["won_revenue_total"] - by_month[m]["won_revenue_from_leads"]
                for m in months
            ),
            2,
        ),
        "inferred_milestones": dict(sorted(inferred.items())),
        "handoffs_without_owner": sum(
            1 for h in ctx.facts.handoffs if ctx.in_range(h.handed_over_at) and not h.owner_id
        ),
        "deals_in_other_currencies": {k: int(v) for k, v in sorted(other.items())},
        "currencies_without_rate": sorted({c for c in other if c not in ctx.options.rates}),
        "model_changes": _model_changes(ctx),
    }


def finish(data: dict[str, Any]) -> dict[str, Any]:
    """Range values that come from other parts of the data."""
    data["range"]["handoff_to_customer_rate"] = data["cohorts"]["pooled_mature"][
        "handoff_to_customer_rate"
    ]
    data["range"]["sla_open_breaches"] = len(data["sla_open_breaches"])
    return data


def _model_changes(ctx: Context) -> list[str]:
    """Months of the range in which hand-offs start coming from another scoring model version."""
    changes = []
    previous: str | None = None
    for h in ctx.facts.handoffs:  # in time order
        if h.model_version is None:
            continue
        if previous is not None and h.model_version != previous and ctx.in_range(h.handed_over_at):
            month = ctx.month(h.handed_over_at)
            if month not in changes:
                changes.append(month)
        previous = h.model_version
    return changes
