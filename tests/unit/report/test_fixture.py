"""The hand-computed fixture (fixture_handcomputed.json): every expected value below was worked
out by hand from the file; the comments show the arithmetic.

Story (times UTC; Berlin = UTC+1 in winter; range 2024-12 … 2025-02; as_of 2025-03-10 12:00Z;
W = 30 d; SLA: decide within 8, first touch within 4 business hours, Mon–Fri 09–17 Berlin,
holidays DE-BY: 25/26 Dec, 1 and 6 Jan; USD = 0.9 EUR; margin 40 %):

  P1  mkt  lead 12-02, H1 12-05 15:00 (Thu 16:00 Berlin), SQL 12-10, D1 10,000 EUR won 12-20
  P2  mkt  lead 12-03, H2 12-24 15:00 (before Christmas), D2 5,000 USD won 01-31 23:30Z
           = 1 Feb 00:30 Berlin  → February (month boundary trap)
  P3  mkt  lead 12-10, H3 Fri 12-13 15:30, rejected Mon 12-16 "no budget", recycled 01-20
  P4  mkt  lead 12-15, H4 12-18, accepted too late (11 bh), open
  P5  sales lead = SQL 12-20 (never an MQL), D3 8,000 won 02-10; web visit 01-15 → influenced
  P6  sales lead 01-06, D4 3,000 lost 02-05 (no SQL entry: SQL inferred from the deal)
  P7  mkt  lead 01-02, H5 01-31 23:30Z (Sat 00:30 Berlin → February), no owner, never decided
  P8  mkt  lead 01-10, H6 01-13, first touch 4.5 bh (late), D5 6,000 won 02-14
  P9  mkt  lead 02-03, H7 02-04, SQL 02-05, D6 2,000 open
  P10 mkt  lead 02-10, H8 02-24 rejected "not a fit", disqualified
  P11 unknown source, lead 01-15
  P12 mkt  lead 12-01, H9 12-02 recycled 12-20; H10 01-27 converted, D7 4,000 won 02-20
  P13 sales lead 11-15 (before the range), D9 2,500 won 12-05
  P14 mkt  lead 02-25; a touch and a deal after as_of (ignored)
  P15 mkt  lead 02-28 23:30Z = 1 Mar Berlin → outside the range
  D8  1,500 won 01-15 without a person
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from smarketing_sync.report.build import build_report
from smarketing_sync.report.facts import Facts
from smarketing_sync.report.options import ReportOptions


@pytest.fixture
def data(facts: Facts, options: ReportOptions) -> dict[str, Any]:
    return build_report(facts, options).data


def test_handoffs_per_month_in_the_reporting_zone(data: dict[str, Any]) -> None:
    months = data["by_month"]
    # Dec: H9 12-02, H1 12-05, H3 12-13, H4 12-18, H2 12-24 = 5
    # Jan: H6 01-13, H10 01-27 = 2 — H5 at 01-31 23:30Z is 1 Feb 00:30 in Berlin
    # Feb: H5, H7 02-04, H8 02-24 = 3   (UTC bucketing would say Jan 3, Feb 2)
    assert [months[m]["handoffs"] for m in ("2024-12", "2025-01", "2025-02")] == [5, 2, 3]
    # P12 was handed over twice (H9, H10): 10 hand-offs, 9 people
    assert data["range"]["handoffs"] == 10
    assert data["range"]["handoffs_unique_people"] == 9


def test_stage_volume_and_the_same_period_ratio_trap(data: dict[str, Any]) -> None:
    months = data["by_month"]
    # leads: Dec P1 P2 P3 P4 P5 P12; Jan P6 P7 P8 P11; Feb P9 P10 P14 (P15 is 1 Mar in Berlin)
    assert [months[m]["stage_volume"]["lead"] for m in months] == [6, 4, 3]
    # first MQL: Dec P1 P2 P3 P4 P12; Jan P8; Feb P7 (31 Jan 23:30Z) P9 P10
    assert [months[m]["stage_volume"]["mql"] for m in months] == [5, 1, 3]
    # SQL: Dec P1 P5; Jan P2 P6 (inferred from the deal) P8 P12; Feb P9
    assert [months[m]["stage_volume"]["sql"] for m in months] == [2, 4, 1]
    # customers: Dec P1 P13; Jan none; Feb P2 P5 P8 P12
    assert [months[m]["stage_volume"]["customer"] for m in months] == [2, 0, 4]
    # January: 4 SQLs ÷ 1 MQL = 400 % — different people, so the report never calls it a rate
    assert months["2025-01"]["same_period_sql_per_mql"] == 4.0
    # ... the cohort rate of January's hand-offs is at most 100 %
    assert data["cohorts"]["2025-01"]["to_date"]["sql"] == 1.0
    # lead velocity: Jan (1 − 5) / 5 = −0.8; Feb (3 − 1) / 1 = 2.0; Dec has no MQLs before it
    assert [months[m]["lead_velocity_rate"] for m in months] == [None, -0.8, 2.0]
    # detours: recycled Dec P12, Jan P3; disqualified Feb P10
    assert [months[m]["recycled"] for m in months] == [1, 1, 0]
    assert [months[m]["disqualified"] for m in months] == [0, 0, 1]


def test_sales_generated_leads_are_not_mqls(data: dict[str, Any]) -> None:
    funnel = {
        s: {step["step"]: step["count"] for step in steps} for s, steps in data["funnel"].items()
    }
    # marketing cohort: P1 P2 P3 P4 P7 P8 P9 P10 P12 P14 = 10; MQL all but P14 = 9;
    # SAL P1 P2 P4 P8 P9 P12 = 6; SQL = opportunity P1 P2 P8 P9 P12 = 5; customers P1 P2 P8 P12
    assert funnel["marketing"] == {
        "lead": 10,
        "mql": 9,
        "sal": 6,
        "sql": 5,
        "opportunity": 5,
        "customer": 4,
    }
    # sales cohort P5 P6: no MQL or SAL step at all; P5 became a customer
    assert funnel["sales"] == {"lead": 2, "sql": 2, "opportunity": 2, "customer": 1}
    assert funnel["unknown"]["lead"] == 1  # P11, shown, not folded into either side
    # lead → MQL cohort of December counts marketing leads only: P1 P2 P3 P4 P12 (not P5)
    assert data["cohorts"]["2024-12"]["lead_to_mql"]["leads"] == 5
    assert data["cohorts"]["2024-12"]["lead_to_mql"]["to_date"] == 1.0
    # February: P9 P10 of P9 P10 P14 = 2/3; P14 + 30 d > as_of → immature
    assert data["cohorts"]["2025-02"]["lead_to_mql"] == {
        "leads": 3,
        "mature": False,
        "to_date": 0.6667,
        "within_window": 0.6667,
    }


def test_handoff_cohorts_credit_one_customer_to_one_handoff(data: dict[str, Any]) -> None:
    cohorts = data["cohorts"]
    # Dec cohort H1 H2 H3 H4 H9: customers to date H1 (12-20) and H2 (01-31) = 2/5;
    # within 30 d only H1 (H2: 12-24 15:00 + 30 d = 01-23 < 01-31 23:30) = 1/5.
    # H9 is not credited: P12 won after the next hand-off H10.
    assert cohorts["2024-12"]["to_date"]["customer"] == 0.4
    assert cohorts["2024-12"]["within_window"]["customer"] == 0.2
    assert cohorts["2024-12"]["to_date"]["accepted"] == 0.8  # H1 H2 H4 H9
    # Jan cohort H6 H10: both customers to date; within 30 d only H10 (01-27 + 30 d = 02-26 ≥
    # 02-20); H6: 01-13 09:00 + 30 d = 02-12 09:00 < won 02-14
    assert cohorts["2025-01"]["to_date"]["customer"] == 1.0
    assert cohorts["2025-01"]["within_window"]["customer"] == 0.5
    # Feb cohort: H8 02-24 + 30 d = 03-26 > as_of → immature (greyed, to date only)
    assert cohorts["2025-02"]["mature"] is False
    assert cohorts["2024-12"]["mature"] and cohorts["2025-01"]["mature"]
    # K2 headline, pooled over mature cohorts within W: (1 + 1) / (5 + 2) = 2/7 = 0.2857
    assert cohorts["pooled_mature"] == {
        "handoff_to_customer_rate": 0.2857,
        "customers": 2,
        "handoffs": 7,
    }
    assert data["range"]["handoff_to_customer_rate"] == 0.2857


def test_revenue_by_month_in_the_reporting_zone_with_converted_currency(
    data: dict[str, Any],
) -> None:
    months = data["by_month"]
    # Dec: D1 10,000 + D9 2,500 = 12,500; Jan: D8 1,500 (no person);
    # Feb: D2 5,000 USD × 0.9 = 4,500 (won 31 Jan 23:30Z = 1 Feb Berlin) + D3 8,000 + D5 6,000
    #      + D7 4,000 = 22,500
    assert [months[m]["won_revenue_total"] for m in months] == [12500.0, 1500.0, 22500.0]
    # K3 excludes the deal without a person: Jan 0
    assert [months[m]["won_revenue_from_leads"] for m in months] == [12500.0, 0.0, 22500.0]
    # K5: Feb marketing D2 4,500 + D5 6,000 + D7 4,000 = 14,500; sales D3 8,000
    assert months["2025-02"]["won_revenue_by_source"] == {
        "marketing": 14500.0,
        "sales": 8000.0,
        "unknown": 0.0,
    }
    assert months["2025-01"]["won_revenue_by_source"]["unknown"] == 1500.0
    r = data["range"]
    assert r["won_revenue_total"] == 36500.0  # 12,500 + 1,500 + 22,500
    assert r["won_revenue_by_source"] == {"marketing": 24500.0, "sales": 10500.0, "unknown": 1500.0}
    assert r["marketing_sourced_share"] == 0.6712  # 24,500 / 36,500
    # R1: won 7 / (won 7 + lost D4 1) = 0.875; Feb 4 / 5 = 0.8
    assert r["win_rate"] == 0.875
    assert months["2025-02"]["win_rate"] == 0.8
    assert r["avg_won_deal"] == 5214.29  # 36,500 / 7
    # V3: cycles 10 (D1), 15 (D9), 10 (D8), 23.5625 (D2), 49 (D3), 25 (D5), 23 (D7) → median 23
    assert r["sales_cycle"] == {"median_days": 23.0, "mean_days": 22.22}  # mean 155.5625 / 7
    # R5: only D6 (2,000, marketing) is open; D10 was created after as_of
    assert r["open_pipeline"] == {"marketing": 2000.0, "sales": 0.0, "unknown": 0.0}


def test_influenced_is_not_sourced(data: dict[str, Any]) -> None:
    # sourced (K5) marketing = 24,500; influenced (R6) = every won deal whose person had a touch
    # before the win: D1 10,000 + D2 4,500 + D3 8,000 (sales-sourced, web visit 01-15 before
    # its 02-10 win) + D5 6,000 + D7 4,000 = 32,500; D9 and D8 had no touch
    assert data["range"]["influenced_revenue"] == 32500.0
    assert data["range"]["won_revenue_by_source"]["marketing"] == 24500.0
    assert data["by_month"]["2025-02"]["influenced_revenue"] == 22500.0


def test_roi_costs_and_efficiency(data: dict[str, Any]) -> None:
    r = data["range"]
    # cost: C-WEB 3 × 1,000 + C-ADS 2,000 + 1,000 USD × 0.9 = 5,900
    assert r["marketing_cost"] == 5900.0
    assert [data["by_month"][m]["marketing_cost"] for m in data["months"]] == [
        3000.0,
        1900.0,
        1000.0,
    ]
    # K8 margin-based: (24,500 × 0.4 − 5,900) / 5,900 = 3,900 / 5,900 = 0.661
    assert r["marketing_roi"] == 0.661
    assert r["marketing_roi_basis"] == "margin"
    # A5: marketing pipeline created D1 10,000 + D2 4,500 + D5 6,000 + D7 4,000 + D6 2,000
    #     = 26,500 → / 5,900 = 4.4915
    assert r["pipeline_to_spend"] == 4.4915
    # A4: new customers in the range P1 P2 P5 P8 P12 P13 = 6 → 5,900 / 6 = 983.33
    assert r["program_cac"] == 983.33


def test_revenue_based_roi_when_no_margin_is_configured(
    facts: Facts, make_options: Callable[..., ReportOptions]
) -> None:
    data = build_report(facts, make_options(margin=None)).data
    # (24,500 − 5,900) / 5,900 = 3.1525
    assert data["range"]["marketing_roi"] == 3.1525
    assert data["range"]["marketing_roi_basis"] == "revenue"


def test_campaign_attribution_w_shaped_and_other_models(
    facts: Facts, data: dict[str, Any], make_options: Callable[..., ReportOptions]
) -> None:
    campaigns = data["campaigns"]
    # D1 (P1) touches before its creation: C-WEB (FT, 11-20), C-WEB (LC, 12-02 = t_lead),
    # C-MAIL (12-05), C-ADS (OC, 12-09) → C-WEB 0.6, C-ADS 0.3, C-MAIL 0.1 of 10,000.
    # D2, D7: one C-WEB touch (FT = LC = OC, scaled to 100 %); D5: one C-MAIL touch.
    # C-WEB 6,000 + 4,500 + 4,000 = 14,500; C-ADS 3,000; C-MAIL 1,000 + 6,000 = 7,000;
    # no touch: D9 2,500 + D8 1,500 + D3 8,000 (its touch came after creation) = 12,000
    assert {k: v["attributed_revenue"] for k, v in campaigns.items()} == {
        "(no marketing touch)": 12000.0,
        "C-ADS": 3000.0,
        "C-MAIL": 7000.0,
        "C-WEB": 14500.0,
    }
    # A2 over the lifetime: C-WEB (14,500 × 0.4 − 3,000) / 3,000 = 0.9333;
    # C-ADS (3,000 × 0.4 − 2,900) / 2,900 = −0.5862
    assert campaigns["C-WEB"]["campaign_roi"] == 0.9333
    assert campaigns["C-ADS"]["campaign_roi"] == -0.5862
    # A3: acquired by C-WEB (first touch ≤ t_lead): P1 P2 P7 P10 P12 P14 P15 = 7 → 3,000 / 7
    assert campaigns["C-WEB"]["leads"] == 7
    assert campaigns["C-WEB"]["cost_per_lead"] == 428.57
    assert campaigns["C-WEB"]["customers"] == 3  # P1 P2 P12
    # last touch: D1 all to C-ADS → C-ADS 10,000: (4,000 − 2,900) / 2,900 = 0.3793
    last = build_report(facts, make_options(model="last")).data["campaigns"]
    assert last["C-ADS"]["attributed_revenue"] == 10000.0
    assert last["C-ADS"]["campaign_roi"] == 0.3793
    # linear: D1 split in quarters → C-WEB 5,000 + 4,500 + 4,000 = 13,500
    linear = build_report(facts, make_options(model="linear")).data["campaigns"]
    assert linear["C-WEB"]["attributed_revenue"] == 13500.0


def test_time_to_convert_censors_open_leads(data: dict[str, Any]) -> None:
    k4 = data["velocity"]["lead_to_customer_time"]
    # lead cohort (13): events P1 18.04 d, P8 35, P5 52, P2 59.56, P12 81; censored at as_of:
    # P14 13.08, P10 28.08, P9 35.08, P11 54.08, P6 63.08 (lost: stays at risk), P7 67.08,
    # P4 85.08, P3 90.08.  S = 11/12 · 9/10 · 7/8 · 5/6 = 0.6016 after 59.56; at 81 d three
    # are at risk: S = 0.6016 · 2/3 = 0.401 ≤ 0.5 → KM median 81 d; converters only: 52 d.
    assert k4 == {
        "median_days": 81.0,
        "not_reached": False,
        "last_time_days": 90.08,
        "n": 13,
        "events": 5,
        "censored": 8,
        "converters_median_days": 52.0,
        "share_within_target": 0.3984,  # 1 − S(60) = 1 − 0.6016
    }
    v2 = data["velocity"]["mql_to_sql_time"]
    # MQL cohort (9): events 1.04 (P9), 4.79 (P1), 7.04 (P8), 14.79 (P2), 57.04 (P12);
    # censored 14.125 (P10), 37.52 (P7), 82.125 (P4), 86.85 (P3).
    # S: 8/9 → 7/9 → 6/9 → ·4/5 = 0.5333 → ·2/3 = 0.3556 at 57.04 → median 57.04 d
    assert (v2["median_days"], v2["events"], v2["censored"]) == (57.04, 5, 4)
    assert v2["converters_median_days"] == 7.04
    # V1 lead → MQL over the 9 MQLs of the range: median of 0.96 0.96 2.96 2.96 3.23 3.25 …
    assert data["velocity"]["stage_velocity"]["lead_to_mql"] == {"median_days": 3.23, "n": 9}


def test_time_to_convert_not_reached(
    facts: Facts, make_options: Callable[..., ReportOptions]
) -> None:
    options = make_options(months=["2025-02"])
    data = build_report(facts, options).data
    # February's lead cohort P9 P10 P14: nobody is a customer yet → "not reached (> 35 d)"
    k4 = data["velocity"]["lead_to_customer_time"]
    assert (k4["median_days"], k4["not_reached"], k4["events"], k4["censored"]) == (
        None,
        True,
        0,
        3,
    )
    assert k4["last_time_days"] == 35.08  # P9: 02-03 10:00 → 03-10 12:00
    headline = build_report(facts, options).section("headline")
    figure = next(f for f in headline.figures if f.key == "lead_to_customer_time")
    assert figure.display == "not reached (> 35 d)"


def test_sla_business_hours_with_weekend_and_holidays(data: dict[str, Any]) -> None:
    months = data["by_month"]
    # Dec decisions (8 bh): H9 1 bh ✓; H1 Thu 16:00 → Fri 10:00 = 1 + 1 = 2 ✓;
    # H3 Fri 16:30 → Mon 13:00 = 0.5 + 4 = 4.5 ✓ (68.5 calendar hours over the weekend);
    # H4 7 + 4 = 11 ✗; H2 Tue 24 Dec 16:00 → Fri 27 Dec 15:00 = 1 + 6 = 7 ✓ (25/26 Dec closed)
    assert months["2024-12"]["sla_decision_met_rate"] == 0.8  # 4 / 5
    assert months["2024-12"]["sla_decision_accepted_rate"] == 0.6  # H9 H1 H2 (H3 rejected)
    # Dec first touch (4 bh): H9 0.5 ✓, H1 1.5 ✓, H3 never ✗, H4 3 ✓, H2 1 + 2 = 3 ✓
    assert months["2024-12"]["sla_first_touch_met_rate"] == 0.8
    # Jan: decisions H6 5 ✓, H10 2 ✓; touches H6 4.5 ✗, H10 1 ✓
    assert (
        months["2025-01"]["sla_decision_met_rate"],
        months["2025-01"]["sla_first_touch_met_rate"],
    ) == (1.0, 0.5)
    # Feb: H5 undecided past its due (Mon 3 Feb 17:00 Berlin) ✗, H7 1 ✓, H8 rejected after 1 ✓
    assert months["2025-02"]["sla_decision_met_rate"] == 0.6667
    assert months["2025-02"]["sla_first_touch_met_rate"] == 0.3333  # only H7
    r = data["range"]
    assert (r["sla_decision_met"], r["sla_decision_evaluable"]) == (8, 10)
    assert (r["sla_first_touch_met"], r["sla_first_touch_evaluable"]) == (6, 10)
    # S3 decision bh: 1 1 1 2 2 4.5 5 7 11 → median 2, p90 = 9th of 9 = 11
    assert r["sla_decision_bh"] == {"median": 2.0, "p90": 11.0}
    # first touch bh: 0.5 0.5 1 1.5 3 3 4.5 → median 1.5, p90 = 7th of 7 = 4.5
    assert r["sla_first_touch_bh"] == {"median": 1.5, "p90": 4.5}
    # F4: accepted 7 of 9 decided; reasons come back to marketing
    assert r["acceptance_rate"] == 0.7778
    assert r["rejection_reasons"] == {"no budget": 1, "not a fit": 1}


def test_open_breaches_are_listed_with_business_hours_overdue(data: dict[str, Any]) -> None:
    # Only H5 is still open. Its clock starts Mon 3 Feb 09:00 Berlin (handed over Sat 00:30).
    # Decision due Mon 17:00 → to Mon 10 Mar 13:00: 24 working days × 8 + 4 = 196 bh.
    # First touch due Mon 13:00 → 4 + 196 = 200 bh. H3/H8 were rejected: no open breach.
    assert [
        (b["handoff"], b["clock"], b["overdue_bh"], b["owner"]) for b in data["sla_open_breaches"]
    ] == [(5, "first_touch", 200.0, None), (5, "decision", 196.0, None)]
    assert data["range"]["sla_open_breaches"] == 2


def test_first_visit_to_purchase_prints_coverage(data: dict[str, Any]) -> None:
    # Dec: D1 first seen 11-20 → won 12-20 = 30 d, 4 touches; D9 (P13) untracked → coverage 1/2
    assert data["by_month"]["2024-12"]["first_visit_to_purchase"] == {
        "median_days": 30.0,
        "median_touches": 4.0,
        "coverage": 0.5,
    }
    # Feb: D2 59.56 d, D5 35.04 d, D7 82 d → median 59.56; D3 untracked → 3/4
    assert data["by_month"]["2025-02"]["first_visit_to_purchase"]["coverage"] == 0.75


def test_data_quality_footer(data: dict[str, Any]) -> None:
    assert data["data_quality"] == {
        "unknown_source_people": 1,  # P11
        "won_deals_without_person": 1,  # D8
        "won_revenue_without_person": 1500.0,  # K6 − K3
        "inferred_milestones": {"sql": 1},  # P6's SQL from its deal (P13's is before the range)
        "handoffs_without_owner": 1,  # H5
        "deals_in_other_currencies": {"USD": 1},  # D2
        "currencies_without_rate": [],
        "model_changes": [],
    }


def test_a_currency_without_rate_is_reported_apart(
    facts: Facts, make_options: Callable[..., ReportOptions]
) -> None:
    data = build_report(facts, make_options(rates={})).data
    feb = data["by_month"]["2025-02"]
    # D2's 5,000 USD is not summed in: 22,500 − 4,500 = 18,000 EUR plus USD 5,000 apart
    assert feb["won_revenue_total"] == 18000.0
    assert feb["won_revenue_unconverted"] == {"USD": 5000.0}
    assert data["range"]["marketing_cost_unconverted"] == {"USD": 1000.0}
    assert data["data_quality"]["currencies_without_rate"] == ["USD"]


def test_stage_balance_snapshot(data: dict[str, Any]) -> None:
    counts = {stage: v["count"] for stage, v in data["stage_balance"].items()}
    # latest entry at as_of: customers P1 P2 P5 P8 P12 P13; mql P4 P7; opportunity P6 P9;
    # recycled P3; disqualified P10; lead P11 P14 P15
    assert counts == {
        "customer": 6,
        "disqualified": 1,
        "lead": 3,
        "mql": 2,
        "opportunity": 2,
        "recycled": 1,
    }


def test_nothing_after_as_of_is_read(facts: Facts) -> None:
    assert "D10" not in {d.id for d in facts.deals}  # created 03-12
    assert [t.at.day for t in facts.touches[14]] == [25]  # the 03-12 touch is dropped
