"""--explain lists the records behind a figure; the rows add up to it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smarketing_sync.errors import ConfigError
from smarketing_sync.report.build import build_report
from smarketing_sync.report.explain import explain
from smarketing_sync.report.facts import Facts
from smarketing_sync.report.options import ReportOptions


def test_handoffs_of_a_month_are_the_rows(facts: Facts, options: ReportOptions) -> None:
    rows = explain(facts, options, "handoffs", "2025-02").data["rows"]
    # H5 (31 Jan 23:30Z = 1 Feb Berlin), H7, H8
    assert sorted(r[0] for r in rows) == [5, 7, 8]
    assert build_report(facts, options).data["by_month"]["2025-02"]["handoffs"] == len(rows)


def test_won_revenue_rows_sum_to_the_figure(facts: Facts, options: ReportOptions) -> None:
    result = explain(facts, options, "won_revenue_total", "2025-02")
    columns, rows = result.data["columns"], result.data["rows"]
    converted = columns.index("in EUR")
    assert sum(r[converted] for r in rows) == 22500.0
    d2 = next(r for r in rows if r[0] == "D2")
    assert (d2[columns.index("amount")], d2[columns.index("currency")], d2[converted]) == (
        5000.0,
        "USD",
        4500.0,
    )
    assert d2[columns.index("date")] == "2025-02-01 00:30"  # shown in the report zone


def test_km_rows_show_censored_members(facts: Facts, options: ReportOptions) -> None:
    rows = explain(facts, options, "lead_to_customer_time").data["rows"]
    assert len(rows) == 13
    assert sum(1 for r in rows if r[4] == "open (censored at as_of)") == 8


def test_open_breaches_and_sla_rows(facts: Facts, options: ReportOptions) -> None:
    breaches = explain(facts, options, "sla_open_breaches").data["rows"]
    assert [(r[0], r[4], r[6]) for r in breaches] == [
        (5, "decision", 196.0),
        (5, "first_touch", 200.0),
    ]
    sla_rows = explain(facts, options, "sla_decision_met_rate", "2024-12").data["rows"]
    decision = [r for r in sla_rows if r[4] == "decision"]
    assert sum(1 for r in decision if r[10] == "yes") == 4  # 0.8 of 5


def test_unknown_kpi_lists_the_known_ones(
    facts: Facts, make_options: Callable[..., ReportOptions]
) -> None:
    with pytest.raises(ConfigError, match=r"no record list for KPI 'revenue'.*handoffs"):
        explain(facts, make_options(), "revenue")
