"""A realistic computed report, written by hand, for the renderer tests (unit and browser).

It has every piece a renderer meets: a headline strip with targets, a "not reached" median and
a missing value; funnels with different steps per source; stacked and unstacked trends with a
month without value and a percent unit; cohorts with immature rows muted; an open-breach list
with a hostile name, an apostrophe and a long reason; a campaign whose name would be a
spreadsheet formula and one with commas, quotes and accents; and nested machine data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from smarketing_sync.report.model import (
    Figure,
    FunnelChart,
    Report,
    Section,
    Table,
    TrendChart,
)

HOSTILE_NAME = "<script>alert(1)</script>"
FORMULA_CAMPAIGN = '=HYPERLINK("http://evil.example/x","click")'
QUOTED_CAMPAIGN = 'Spring "Launch", Ünïcode — 2025'
LONG_REASON = (
    "Rejected: the company is an existing customer of the reseller partner and the contact asked "
    "to be called back only after the fiscal year closes in April"
)

HEADLINE_FIGURES = [
    Figure("handoffs", "Hand-offs to sales", 128, "count", "128", target=120,
           change="+12 % vs 2025-01"),
    Figure("handoff_to_customer_rate", "Hand-off → customer", 0.184, "percent", "18.4 %",
           note="mature cohorts only (W = 90 d)", target=0.2),
    Figure("won_revenue", "Won revenue", 412500.0, "money", "€412,500",
           note="marketing €265,000 · sales €147,500"),
    Figure("lead_to_customer_time", "Lead → customer (median)", None, "days",
           "not reached (> 90 d)", note="Kaplan–Meier, n = 1,380, 1,327 censored", target=60),
    Figure("sla_decision_compliance", "SLA: decision in time", 0.913, "percent", "91.3 %",
           target=0.95),
    Figure("sla_first_touch_compliance", "SLA: first touch in time", 0.87, "percent", "87.0 %"),
    Figure("sla_open_breaches", "Open SLA breaches", 3, "count", "3"),
    Figure("marketing_roi", "Marketing ROI", 2.4, "ratio", "2.4×", note="margin 20 %"),
    Figure("pipeline_to_spend", "Pipeline to spend", 6.15, "ratio", "6.2×",
           change="−0.4 vs 2025-01"),
]  # fmt: skip


def sample_report() -> Report:
    return Report(
        title="Shared KPI report",
        as_of=datetime(2025, 3, 1, 9, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        months=["2024-12", "2025-01", "2025-02"],
        timezone="Europe/Berlin",
        currency="EUR",
        attribution="w_shaped",
        sections=[
            _funnel(),
            Section("headline", "Headline", figures=list(HEADLINE_FIGURES)),
            _trend(),
            _cohorts(),
            _sla(),
            _revenue(),
            Section(
                "data_quality",
                "Data quality",
                notes=[
                    "4 people with unknown source",
                    "2 won deals without a person (€18,000)",
                    "1 deal in CHF without a rate: reported separately",
                ],
            ),
        ],
        data={
            "handoffs": {"2024-12": 40, "2025-01": 41, "2025-02": 47},
            "won_revenue": {
                "2024-12": {"marketing": 80000.0, "sales": 47500.5},
                "2025-01": {"marketing": 95000.0, "sales": 50000.0},
                "2025-02": {"marketing": 90000.0, "sales": 50000.0},
            },
            "sla_open_breaches": [
                {"handoff": 17, "owner": HOSTILE_NAME, "due": datetime(2025, 2, 27, 15, tzinfo=UTC)}
            ],
            "lead_to_customer_time": None,
            "model_change_months": ["2025-01"],
        },
    )


def _funnel() -> Section:
    return Section(
        "funnel",
        "Funnel per source (lead cohort)",
        charts=[
            FunnelChart(
                "funnel_by_source",
                "Leads of the range, by source",
                series={
                    "marketing": [
                        ("Lead", 1200),
                        ("MQL", 540),
                        ("Hand-off", 310),
                        ("SAL", 251),
                        ("SQL", 170),
                        ("Opportunity", 96),
                        ("Customer", 31),
                    ],
                    "sales": [
                        ("Lead", 180),
                        ("SAL", 150),
                        ("SQL", 110),
                        ("Opportunity", 64),
                        ("Customer", 22),
                    ],
                },
            )
        ],
    )


def _trend() -> Section:
    months = ["2024-12", "2025-01", "2025-02"]
    return Section(
        "trend",
        "Monthly trend",
        tables=[
            Table(
                "trend_volumes",
                "Volumes per month",
                columns=["Month", "Leads", "MQLs", "Hand-offs", "Customers", "Won revenue"],
                rows=[
                    ["2024-12", "402", "171", "40", "15", "€127,501"],
                    ["2025-01", "455", "180", "41", "19", "€145,000"],
                    ["2025-02", "523", "189", "47", "19", "€140,000"],
                ],
            )
        ],
        charts=[
            TrendChart(
                "trend_volumes",
                "Funnel volumes",
                months=months,
                series={
                    "Leads": [402, 455, 523],
                    "MQLs": [171, 180, 189],
                    "Hand-offs": [40, 41, 47],
                    "Customers": [15, 19, None],
                },
            ),
            TrendChart(
                "won_revenue_by_source",
                "Won revenue by source",
                months=months,
                series={"marketing": [80000.0, 95000.0, 90000.0], "sales": [47500.5, 50000, 50000]},
                unit="money",
                stacked=True,
            ),
            TrendChart(
                "sla_rates",
                "SLA compliance",
                months=months,
                series={"decision": [0.9, 0.93, 0.91], "first touch": [0.85, None, 0.89]},
                unit="percent",
            ),
        ],
    )


def _cohorts() -> Section:
    return Section(
        "cohorts",
        "Conversion by hand-off cohort",
        tables=[
            Table(
                "handoff_cohorts",
                "Hand-off cohorts: share reaching each stage (to date)",
                columns=["Cohort", "Hand-offs", "Accepted", "SQL", "Opportunity", "Customer"],
                rows=[
                    ["2024-12", 40, "85.0 %", "62.5 %", "40.0 %", "20.0 %"],
                    ["2025-01", 41, "82.9 %", "58.5 %", "31.7 %", "14.6 %"],
                    ["2025-02", 47, "70.2 %", "38.3 %", "12.8 %", "4.3 %"],
                ],
                muted={1, 2},
                notes=["Cohorts younger than W = 90 days are immature: their rates still grow."],
            )
        ],
    )


def _sla() -> Section:
    return Section(
        "sla",
        "SLA",
        figures=[Figure("sla_median_decision", "Median time to decision", 6.5, "hours", "6.5 h")],
        tables=[
            Table(
                "sla_open_breaches",
                "Open breaches",
                columns=["Hand-off", "Person", "Owner", "Due", "Overdue by", "Reason"],
                rows=[
                    [
                        "h-17",
                        "ann.o'brien+test@example.com",
                        HOSTILE_NAME,
                        "2025-02-27 15:00",
                        "1.8 d",
                        "",
                    ],
                    [
                        "h-21",
                        "jörg.müller@example.de",
                        "Dana Scully",
                        "2025-02-28 10:00",
                        "4 h",
                        LONG_REASON,
                    ],
                    ["h-22", "lee@example.com", None, "2025-02-28 17:00", "1 h", "no owner"],
                ],
            ),
            Table(
                "rejection_reasons",
                "Rejection reasons",
                columns=["Reason", "Hand-offs", "Share"],
                rows=[
                    ["not a fit", 9, "56.3 %"],
                    ["duplicate", 4, "25.0 %"],
                    ["timing", 3, "18.8 %"],
                ],
            ),
        ],
    )


def _revenue() -> Section:
    return Section(
        "revenue",
        "Revenue and ROI",
        figures=[Figure("win_rate", "Win rate", 0.32, "percent", "32.0 %")],
        tables=[
            Table(
                "campaigns",
                "Campaigns (attribution: w_shaped)",
                columns=["Campaign", "Cost", "Leads", "Customers", "Revenue", "ROI", "CPL"],
                rows=[
                    [QUOTED_CAMPAIGN, "€12,000", "310", "9", "€88,400", "5.9×", "€38.71"],
                    [FORMULA_CAMPAIGN, "€4,500", "95", "1", "€7,000", "0.2×", "€47.37"],
                    ["Webinar -Q1", "€0", "12", "0", "€0", "—", "—"],
                ],
                notes=["ROI = (revenue × margin 20 % − cost) ÷ cost"],
            )
        ],
    )
