"""Sections 6–8 of KPIS §4: SLA, revenue and ROI, data-quality footer."""

from __future__ import annotations

from smarketing_sync.report import display as show
from smarketing_sync.report.kpis.attribution import MODEL_NAMES
from smarketing_sync.report.model import (
    Figure,
    Section,
    Table,
)
from smarketing_sync.report.view import View


def sla(view: View) -> Section:
    r = view.data["range"]
    rows = [
        [
            m,
            view.month(m)["handoffs"],
            show.percent(view.month(m)["sla_decision_met_rate"]),
            show.percent(view.month(m)["sla_decision_accepted_rate"]),
            show.percent(view.month(m)["sla_first_touch_met_rate"]),
            view.month(m)["sla_breaches"],
            view.month(m)["sla_pending"],
            show.percent(view.month(m)["acceptance_rate"]),
        ]
        for m in view.months
    ]
    breaches = [
        [
            b["handoff"],
            b["email"] or b["person"],
            b["owner"] or "(none)",
            b["clock"],
            view.local(b["due"]),
            show.hours(b["overdue_bh"]),
        ]
        for b in view.data["sla_open_breaches"]
    ]
    reasons = [[reason, n] for reason, n in r["rejection_reasons"].items()]
    return Section(
        "sla",
        "SLA between marketing and sales",
        figures=[
            Figure(
                "sla_decision_bh",
                "Decision time (median)",
                r["sla_decision_bh"]["median"],
                "hours",
                show.hours(r["sla_decision_bh"]["median"]),
                note=f"p90 {show.hours(r['sla_decision_bh']['p90'])}",
            ),
            Figure(
                "sla_first_touch_bh",
                "First touch (median)",
                r["sla_first_touch_bh"]["median"],
                "hours",
                show.hours(r["sla_first_touch_bh"]["median"]),
                note=f"p90 {show.hours(r['sla_first_touch_bh']['p90'])}",
            ),
            Figure(
                "acceptance_rate",
                "Accepted of decided",
                r["acceptance_rate"],
                "percent",
                show.percent(r["acceptance_rate"]),
            ),
        ],
        tables=[
            Table(
                "sla_by_month",
                "SLA by hand-off month",
                [
                    "month",
                    "hand-offs",
                    "decided in time",
                    "accepted in time",
                    "first touch in time",
                    "breaches",
                    "pending",
                    "accepted of decided",
                ],
                rows,
                notes=[
                    f"decision within {view.options.sla.decision_within_h:g} business hours, "
                    f"first touch within {view.options.sla.first_touch_within_h:g}"
                ],
            ),
            Table(
                "sla_open_breaches",
                "Open breaches",
                ["hand-off", "person", "owner", "clock", "due", "overdue by"],
                breaches,
            ),
            Table("rejection_reasons", "Rejection reasons", ["reason", "hand-offs"], reasons),
        ],
    )


def revenue(view: View) -> Section:
    r = view.data["range"]
    rows = [
        [
            m,
            view.money(
                view.month(m)["won_revenue_total"], view.month(m)["won_revenue_unconverted"]
            ),
            view.money(view.month(m)["won_revenue_from_leads"]),
            view.money(view.month(m)["won_revenue_by_source"]["marketing"]),
            view.money(view.month(m)["won_revenue_by_source"]["sales"]),
            view.money(view.month(m)["won_revenue_by_source"]["unknown"]),
            view.money(view.month(m)["influenced_revenue"]),
            show.percent(view.month(m)["win_rate"]),
            view.money(view.month(m)["avg_won_deal"]),
            view.money(view.month(m)["marketing_cost"]),
        ]
        for m in view.months
    ]
    model = view.options.model
    campaigns = [
        [
            name,
            c["channel"] or "",
            view.money(c["cost"], c["cost_unconverted"]),
            c["leads"],
            c["mqls"],
            c["customers"],
            view.money(c["attributed_revenue"], c["attributed_unconverted"]),
            show.percent(c["campaign_roi"]),
            view.money(c["cost_per_lead"]),
        ]
        for name, c in view.data["campaigns"].items()
    ]
    open_pipe = r["open_pipeline"]
    return Section(
        "revenue",
        "Revenue and ROI",
        figures=[
            Figure(
                "won_revenue_from_leads",
                "Won from leads",
                r["won_revenue_from_leads"],
                "money",
                view.money(r["won_revenue_from_leads"]),
            ),
            Figure(
                "influenced_revenue",
                "Marketing-influenced",
                r["influenced_revenue"],
                "money",
                view.money(r["influenced_revenue"]),
                note="overlaps sourced; never add them",
            ),
            Figure(
                "marketing_sourced_share",
                "Marketing-sourced share",
                r["marketing_sourced_share"],
                "percent",
                show.percent(r["marketing_sourced_share"]),
            ),
            Figure(
                "win_rate",
                "Win rate",
                r["win_rate"],
                "percent",
                show.percent(r["win_rate"]),
                note="won ÷ (won + lost) closed in the range",
            ),
            Figure(
                "open_pipeline",
                "Open pipeline",
                sum(open_pipe.values()),
                "money",
                view.money(sum(open_pipe.values())),
                note=f"{r['open_deals']} open deals",
            ),
            Figure(
                "program_cac",
                "Program CAC",
                r["program_cac"],
                "money",
                view.money(r["program_cac"]),
                note=f"{r['new_customers']} new customers; program spend only",
            ),
        ],
        tables=[
            Table(
                "revenue_by_month",
                "Revenue by month",
                [
                    "month",
                    "won",
                    "from leads",
                    "marketing",
                    "sales",
                    "unknown",
                    "influenced",
                    "win rate",
                    "avg won deal",
                    "marketing cost",
                ],
                rows,
            ),
            Table(
                "campaigns",
                f"Campaigns — attribution: {MODEL_NAMES.get(model, model)}",
                [
                    "campaign",
                    "channel",
                    "cost",
                    "leads",
                    "MQLs",
                    "customers",
                    "attributed revenue",
                    "ROI",
                    "cost per lead",
                ],
                campaigns,
                notes=[
                    f"model {model}; campaign lifetime up to as_of; ROI "
                    + ("margin-based" if view.options.margin is not None else "revenue-based")
                ],
            ),
        ],
    )


def quality(view: View) -> Section:
    q = view.data["data_quality"]
    notes = [
        f"{q['unknown_source_people']} leads with unknown source",
        f"{q['won_deals_without_person']} won deals without a person "
        f"({view.money(q['won_revenue_without_person'])})",
        "inferred milestones: "
        + (", ".join(f"{k} {v}" for k, v in q["inferred_milestones"].items()) or "none"),
        f"{q['handoffs_without_owner']} hand-offs without owner",
        "deals in other currencies: "
        + (", ".join(f"{k} {v}" for k, v in q["deals_in_other_currencies"].items()) or "none")
        + (
            f"; no rate for {', '.join(q['currencies_without_rate'])} (shown apart, never summed)"
            if q["currencies_without_rate"]
            else ""
        ),
        "scoring model changes: " + (", ".join(q["model_changes"]) or "none"),
    ]
    return Section("data_quality", "Data quality", notes=notes)
