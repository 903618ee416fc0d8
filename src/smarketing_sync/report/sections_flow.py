"""Sections 1–5 of KPIS §4: headline strip, funnel, monthly trend, cohort conversion, velocity."""

from __future__ import annotations

from smarketing_sync.report import display as show
from smarketing_sync.report.kpis.milestones import STEPS
from smarketing_sync.report.model import (
    Chart,
    Figure,
    FunnelChart,
    Section,
    Table,
    TrendChart,
)
from smarketing_sync.report.view import View


def headline(view: View) -> Section:
    r = view.data["range"]
    targets = view.options.targets
    k4 = view.data["velocity"]["lead_to_customer_time"]
    pooled = view.data["cohorts"]["pooled_mature"]
    k1_note, k1_change = view.last_change("handoffs")
    _, k6_change = view.last_change("won_revenue_total")
    sources = r["won_revenue_by_source"]
    margin = view.options.margin
    figures = [
        Figure(
            "handoffs",
            "Hand-offs to sales",
            r["handoffs"],
            "count",
            show.count(r["handoffs"]),
            note=f"{r['handoffs_unique_people']} people" + (f"; {k1_note}" if k1_note else ""),
            target=targets.get("handoffs"),
            change=k1_change,
        ),
        Figure(
            "handoff_to_customer_rate",
            "Hand-off → customer",
            r["handoff_to_customer_rate"],
            "percent",
            show.percent(r["handoff_to_customer_rate"]),
            note=(
                f"mature cohorts, within {view.options.window_days} d: "
                f"{pooled['customers']} of {pooled['handoffs']}"
                if pooled["handoffs"]
                else "no mature cohort in the range yet"
            ),
            target=targets.get("handoff_to_customer_rate"),
        ),
        Figure(
            "won_revenue_total",
            "Closed-won amount",
            r["won_revenue_total"],
            "money",
            view.money(r["won_revenue_total"], r["won_revenue_unconverted"]),
            note=(
                f"marketing {view.money(sources['marketing'])} · sales "
                f"{view.money(sources['sales'])} · unknown {view.money(sources['unknown'])}"
            ),
            target=targets.get("won_revenue_total"),
            change=k6_change,
        ),
        Figure(
            "lead_to_customer_time",
            "Lead → customer (KM median)",
            k4["median_days"],
            "days",
            show.days(k4["median_days"], not_reached_after=k4["last_time_days"] or 0),
            note=f"n {k4['n']}, {k4['events']} customers, {k4['censored']} censored",
            target=targets.get("lead_to_customer_time"),
        ),
        Figure(
            "sla_decision_met_rate",
            "SLA decision in time",
            r["sla_decision_met_rate"],
            "percent",
            show.percent(r["sla_decision_met_rate"]),
            note=f"{r['sla_decision_met']} of {r['sla_decision_evaluable']} evaluable",
            target=targets.get("sla_decision_met_rate"),
        ),
        Figure(
            "sla_first_touch_met_rate",
            "SLA first touch in time",
            r["sla_first_touch_met_rate"],
            "percent",
            show.percent(r["sla_first_touch_met_rate"]),
            note=f"{r['sla_first_touch_met']} of {r['sla_first_touch_evaluable']} evaluable",
            target=targets.get("sla_first_touch_met_rate"),
        ),
        Figure(
            "sla_open_breaches",
            "Open SLA breaches",
            r["sla_open_breaches"],
            "count",
            show.count(r["sla_open_breaches"]),
            note=f"at {view.local(view.data['as_of'])}",
        ),
        Figure(
            "marketing_roi",
            "Marketing ROI (sourced)",
            r["marketing_roi"],
            "percent",
            show.percent(r["marketing_roi"]),
            note=(
                f"margin {margin * 100:.0f} %"
                if margin is not None
                else "revenue-based (no margin configured)"
            ),
            target=targets.get("marketing_roi"),
        ),
        Figure(
            "pipeline_to_spend",
            "Pipeline per unit spent",
            r["pipeline_to_spend"],
            "ratio",
            "–" if r["pipeline_to_spend"] is None else f"{r['pipeline_to_spend']:.2f}",
            note="marketing-sourced pipeline created ÷ cost",
        ),
    ]
    return Section("headline", "Headline", figures=figures)


def funnel(view: View) -> Section:
    series = {
        source: [(s["step"], s["count"]) for s in steps]
        for source, steps in view.data["funnel"].items()
    }
    rows = []
    for source, steps in series.items():
        first = steps[0][1] if steps else 0
        previous = None
        for step, n in steps:
            rows.append(
                [
                    source,
                    step,
                    n,
                    # more people here than a step before: they entered here (skipped it)
                    show.percent(n / previous if previous and n <= previous else None),
                    show.percent(n / first if first else None),
                ]
            )
            previous = n
    return Section(
        "funnel",
        "Funnel of the range's leads, per source",
        tables=[
            Table(
                "funnel",
                "Funnel (to date)",
                ["source", "step", "people", "next-step", "cumulative"],
                rows,
                notes=[
                    "sales-generated leads enter at SQL: no MQL or SAL step",
                    "next-step is blank where more people are at a step than at the one before: "
                    "they entered there without it (e.g. a lead status made them SQL without a "
                    "hand-off)",
                ],
            )
        ],
        charts=[FunnelChart("funnel", "Lead cohort funnel by source", series)],
    )


def trend(view: View) -> Section:
    months = view.months
    columns = [
        "month",
        *STEPS,
        "hand-offs",
        "won",
        "pipeline",
        "LVR",
        "SLA dec.",
        "SLA touch",
    ]
    rows = []
    for m in months:
        d = view.month(m)
        rows.append(
            [
                m,
                *[d["stage_volume"][s] for s in STEPS],
                d["handoffs"],
                view.money(d["won_revenue_total"], d["won_revenue_unconverted"]),
                view.money(sum(d["pipeline_created"].values())),
                show.percent(d["lead_velocity_rate"]),
                show.percent(d["sla_decision_met_rate"]),
                show.percent(d["sla_first_touch_met_rate"]),
            ]
        )
    charts: list[Chart] = [
        TrendChart(
            "volume",
            "Monthly volumes",
            months,
            {s: [float(view.month(m)["stage_volume"][s]) for m in months] for s in STEPS},
        ),
        TrendChart(
            "won_revenue",
            "Closed-won amount by source",
            months,
            {
                s: [view.month(m)["won_revenue_by_source"][s] for m in months]
                for s in ("marketing", "sales", "unknown")
            },
            unit="money",
            stacked=True,
        ),
    ]
    return Section(
        "trend",
        "Monthly trend",
        tables=[Table("trend", "Monthly trend", columns, rows)],
        charts=charts,
    )


def conversion(view: View) -> Section:
    cohorts = view.data["cohorts"]
    rows, muted = [], set()
    for i, m in enumerate(view.months):
        c = cohorts[m]
        if not c["mature"]:
            muted.add(i)
        rows.append(
            [
                m,
                c["handoffs"],
                "yes" if c["mature"] else "no (to date only)",
                *[
                    show.percent(c["to_date"][s])
                    for s in ("accepted", "sql", "opportunity", "customer")
                ],
                show.percent(c["within_window"]["customer"]) if c["mature"] else "–",
                show.percent(c["lead_to_mql"]["to_date"]),
            ]
        )
    notes = [
        f"cohort = hand-offs of the month, followed to {view.data['as_of'][:10]}; a cohort is "
        f"mature when every member is {view.options.window_days} days old",
        "lead → MQL counts marketing-sourced leads only",
    ]
    for m in view.months:
        naive = view.month(m)["same_period_sql_per_mql"]
        if naive is not None and naive > 1:
            notes.append(
                f"{m}: SQLs ÷ MQLs of the same month would read {show.percent(naive)} — two "
                "different populations, not a conversion rate"
            )
    table = Table(
        "conversion",
        "Hand-off cohorts",
        [
            "cohort",
            "hand-offs",
            "mature",
            "accepted",
            "SQL",
            "opportunity",
            "customer (to date)",
            f"customer (≤ {view.options.window_days} d)",
            "lead → MQL",
        ],
        rows,
        muted=muted,
        notes=notes,
    )
    return Section("conversion", "Conversion by stage (cohorts)", tables=[table])


def velocity(view: View) -> Section:
    v = view.data["velocity"]
    rows = []
    for key, label in (
        ("lead_to_customer_time", "lead → customer"),
        ("mql_to_sql_time", "MQL → SQL"),
    ):
        k = v[key]
        rows.append(
            [
                label,
                show.days(k["median_days"], not_reached_after=k["last_time_days"] or 0),
                k["n"],
                k["events"],
                k["censored"],
                show.days(k["converters_median_days"]),
            ]
        )
    stage_rows = [
        [name.replace("_to_", " → "), show.days(s["median_days"]), s["n"]]
        for name, s in v["stage_velocity"].items()
    ]
    cycle = view.data["range"]["sales_cycle"]
    return Section(
        "velocity",
        "Velocity",
        figures=[
            Figure(
                "sales_cycle",
                "Sales cycle (median)",
                cycle["median_days"],
                "days",
                show.days(cycle["median_days"]),
                note=f"mean {show.days(cycle['mean_days'])}",
            )
        ],
        tables=[
            Table(
                "km",
                "Time to convert (Kaplan–Meier)",
                [
                    "transition",
                    "KM median",
                    "n",
                    "converted",
                    "censored",
                    "converters only (biased low)",
                ],
                rows,
                notes=["open, lost, rejected and disqualified members are censored at as_of"],
            ),
            Table(
                "stage_velocity",
                "Median per transition completed in the range",
                ["transition", "median", "n"],
                stage_rows,
            ),
        ],
    )
