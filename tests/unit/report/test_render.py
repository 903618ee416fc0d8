"""The report renderers: dispatch, CSV, JSON and the terminal table (HTML: test_render_html.py)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from render_sample import (
    FORMULA_CAMPAIGN,
    HEADLINE_FIGURES,
    HOSTILE_NAME,
    LONG_REASON,
    QUOTED_CAMPAIGN,
    sample_report,
)

from smarketing_sync.report.model import Figure, Report, Section, Table, TrendChart
from smarketing_sync.report.render import FORMATS, render
from smarketing_sync.report.render.common import format_number, target_met
from smarketing_sync.report.render.csv import HEADER, neutralize

RAW_NUMBER = re.compile(r"^-?\d+(\.\d+)?(e-?\d+)?$")


def _csv_rows(report: Report) -> list[dict[str, str]]:
    text = render(report, "csv")
    # What a spreadsheet sees: the UTF-8 bytes, read back by a CSV parser.
    stream = io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8", newline="")
    reader = csv.DictReader(stream)
    assert tuple(reader.fieldnames or ()) == HEADER
    return list(reader)


def _tiny_report(**data: object) -> Report:
    return Report(
        title="t",
        as_of=datetime(2025, 1, 1, tzinfo=UTC),
        months=["2024-12"],
        timezone="UTC",
        currency="EUR",
        attribution="first",
        data=dict(data),
    )


# --- dispatch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_the_sample(fmt: str) -> None:
    text = render(sample_report(), fmt)  # type: ignore[arg-type]
    assert text.endswith("\n")
    assert "Shared KPI report" in text


def test_an_unknown_format_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="'pdf' is not one of: table, csv, json, html"):
        render(sample_report(), "pdf")  # type: ignore[arg-type]


# --- CSV --------------------------------------------------------------------------------------


def test_csv_tables_pivot_back_to_the_model_cells() -> None:
    report = sample_report()
    cells: dict[tuple[str, str], dict[str, dict[str, str]]] = defaultdict(dict)
    for row in _csv_rows(report):
        if row["kind"] == "table":
            cells[(row["section"], row["item"])].setdefault(row["row"], {})[row["column"]] = row[
                "value"
            ]
    tables = [(section.key, table) for section in report.sections for table in section.tables]
    assert {key for key in cells} == {(section, table.key) for section, table in tables}
    for section, table in tables:
        pivot = cells[(section, table.key)]
        assert list(pivot) == [str(n) for n in range(1, len(table.rows) + 1)]
        for number, model_row in enumerate(table.rows, start=1):
            expected = ["" if cell is None else str(cell) for cell in model_row]
            expected = ["'" + c if c == FORMULA_CAMPAIGN else c for c in expected]
            assert [pivot[str(number)][column] for column in table.columns] == expected


def test_csv_quotes_commas_quotes_and_keeps_unicode() -> None:
    text = render(sample_report(), "csv")
    assert '"Spring ""Launch"", Ünïcode — 2025"' in text
    campaigns = [r["value"] for r in _csv_rows(sample_report()) if r["column"] == "Campaign"]
    assert campaigns == [QUOTED_CAMPAIGN, "'" + FORMULA_CAMPAIGN, "Webinar -Q1"]
    owners = [r["value"] for r in _csv_rows(sample_report()) if r["column"] == "Owner"]
    assert owners == [HOSTILE_NAME, "Dana Scully", ""]


def test_csv_marks_muted_rows() -> None:
    muted = {
        (row["row"], row["muted"])
        for row in _csv_rows(sample_report())
        if row["item"] == "handoff_cohorts" and row["kind"] == "table"
    }
    assert muted == {("1", ""), ("2", "true"), ("3", "true")}


def test_csv_figures_carry_raw_numbers_that_read_back() -> None:
    figures: dict[str, dict[str, str]] = defaultdict(dict)
    for row in _csv_rows(sample_report()):
        if row["kind"] == "figure":
            figures[row["item"]][row["column"]] = row["value"]
    assert figures["handoffs"] == {
        "value": "128",
        "display": "128",
        "unit": "count",
        "target": "120",
        "change": "+12 % vs 2025-01",
        "note": "",
    }
    assert figures["won_revenue"]["value"] == "412500"
    assert figures["won_revenue"]["display"] == "€412,500"
    assert figures["lead_to_customer_time"]["value"] == ""
    assert figures["lead_to_customer_time"]["display"] == "not reached (> 90 d)"
    for figure in HEADLINE_FIGURES:
        raw = figures[figure.key]["value"]
        assert (raw == "") if figure.value is None else float(raw) == figure.value


def test_csv_charts_and_data_are_raw_numbers_without_separators() -> None:
    rows = _csv_rows(sample_report())
    numbers = [r["value"] for r in rows if r["kind"] == "chart"]
    numbers += [r["value"] for r in rows if r["kind"] == "figure" and r["column"] == "target"]
    assert numbers
    assert all(RAW_NUMBER.match(n) for n in numbers if n), numbers
    chart = {(r["item"], r["row"], r["column"]): r["value"] for r in rows if r["kind"] == "chart"}
    assert chart[("funnel_by_source", "Lead", "marketing")] == "1200"
    assert chart[("trend_volumes", "2025-02", "Customers")] == ""
    assert chart[("won_revenue_by_source", "2024-12", "sales")] == "47500.5"
    assert chart[("sla_rates", "2025-01", "decision")] == "0.93"
    data = {(r["item"], r["row"], r["column"]): r["value"] for r in rows if r["kind"] == "data"}
    assert data[("handoffs", "2025-01", "")] == "41"
    assert data[("won_revenue", "2024-12", "sales")] == "47500.5"
    assert data[("sla_open_breaches", "0", "due")] == "2025-02-27T15:00:00+00:00"
    assert data[("sla_open_breaches", "0", "owner")] == HOSTILE_NAME
    assert data[("lead_to_customer_time", "", "")] == ""
    meta = {r["item"]: r["value"] for r in rows if r["kind"] == "meta"}
    assert meta["as_of"] == "2025-03-01T09:30:00+01:00"
    assert meta["months"] == "2024-12 2025-01 2025-02"


def test_csv_notes_and_titles_are_rows() -> None:
    rows = _csv_rows(sample_report())
    notes = [(r["section"], r["item"], r["value"]) for r in rows if r["kind"] == "note"]
    assert ("revenue", "campaigns", "ROI = (revenue × margin 20 % − cost) ÷ cost") in notes
    assert ("data_quality", "", "4 people with unknown source") in notes
    titles = {r["item"]: r["value"] for r in rows if r["kind"] == "title"}
    assert titles["funnel_by_source"] == "Leads of the range, by source"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tx", "'\tx"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("+A1", "'+A1"),
        ("+12 % vs 2025-01", "+12 % vs 2025-01"),
        ("-3 d", "-3 d"),
        ("-1250.5", "-1250.5"),
        ("-", "-"),
        ("Webinar -Q1", "Webinar -Q1"),
    ],
)
def test_csv_neutralizes_only_what_a_spreadsheet_would_evaluate(text: str, expected: str) -> None:
    assert neutralize(text) == expected


# --- JSON -------------------------------------------------------------------------------------


def test_json_keeps_keys_in_a_stable_order() -> None:
    text = render(sample_report(), "json")
    document = json.loads(text)
    assert list(document) == [
        "title",
        "as_of",
        "months",
        "timezone",
        "currency",
        "attribution",
        "data",
        "sections",
    ]
    assert text == render(sample_report(), "json")
    assert document["as_of"] == "2025-03-01T09:30:00+01:00"
    assert [s["key"] for s in document["sections"]] == [s.key for s in sample_report().sections]
    section = document["sections"][1]
    assert list(section) == ["key", "title", "figures", "tables", "charts", "notes"]
    assert list(section["figures"][0]) == [
        "key",
        "label",
        "value",
        "unit",
        "display",
        "note",
        "target",
        "change",
    ]


def test_json_carries_data_figures_tables_and_charts() -> None:
    document = json.loads(render(sample_report(), "json"))
    assert document["data"]["handoffs"] == {"2024-12": 40, "2025-01": 41, "2025-02": 47}
    assert document["data"]["sla_open_breaches"][0]["due"] == "2025-02-27T15:00:00+00:00"
    assert document["data"]["sla_open_breaches"][0]["owner"] == HOSTILE_NAME
    sections = {s["key"]: s for s in document["sections"]}
    figures = {f["key"]: f for f in sections["headline"]["figures"]}
    assert figures["handoff_to_customer_rate"]["value"] == 0.184
    assert figures["lead_to_customer_time"]["value"] is None
    assert figures["lead_to_customer_time"]["display"] == "not reached (> 90 d)"
    cohorts = sections["cohorts"]["tables"][0]
    assert cohorts["muted"] == [1, 2]
    assert cohorts["rows"][0] == ["2024-12", 40, "85.0 %", "62.5 %", "40.0 %", "20.0 %"]
    funnel = sections["funnel"]["charts"][0]
    assert funnel["type"] == "funnel"
    assert funnel["series"]["sales"][0] == {"step": "Lead", "count": 180}
    trend = sections["trend"]["charts"][0]
    assert trend["type"] == "trend"
    assert trend["series"]["Customers"] == [15, 19, None]
    assert sections["trend"]["charts"][1]["stacked"] is True


def test_json_turns_values_json_lacks_into_json() -> None:
    report = _tiny_report(
        nan=float("nan"),
        infinite=float("inf"),
        amount=Decimal("12.50"),
        whole=Decimal("3"),
        tags={"b", "a"},
        pair=(1, 2),
    )
    data = json.loads(render(report, "json"))["data"]
    assert data == {
        "nan": None,
        "infinite": None,
        "amount": 12.5,
        "whole": 3,
        "tags": ["a", "b"],
        "pair": [1, 2],
    }


# --- terminal table ---------------------------------------------------------------------------


def test_table_puts_the_headline_strip_first_with_every_headline_number() -> None:
    text = render(sample_report(), "table")
    # The model lists the funnel before the headline; the strip still comes first.
    assert text.index("HEADLINE") < text.index("FUNNEL PER SOURCE")
    strip = text[text.index("HEADLINE") : text.index("FUNNEL PER SOURCE")]
    for figure in HEADLINE_FIGURES:
        line = next(line for line in strip.splitlines() if figure.label in line)
        assert figure.display in line
    assert "target 120 · met" in strip
    assert "target 20 % · missed" in strip
    assert "target ≤ 60 d" in strip


def test_table_marks_muted_rows_and_explains_the_mark() -> None:
    lines = render(sample_report(), "table").splitlines()
    cohort = {line.split()[0]: line for line in lines if line.strip().startswith("202")}
    assert not cohort["2024-12"].endswith("·")
    assert lines[lines.index(cohort["2025-01"])].endswith("·")
    assert cohort["2025-02"].endswith("·")
    assert any("rows marked · are provisional" in line for line in lines)
    assert any("Cohorts younger than W = 90 days are immature" in line for line in lines)


def test_table_fits_100_columns_and_loses_no_word() -> None:
    text = render(sample_report(), "table")
    assert max(len(line) for line in text.splitlines()) <= 100
    for word in LONG_REASON.split():
        assert word in text
    assert "ann.o'brien+test@e" in text  # the email is broken only because the row is too wide
    assert "\x1b" not in text


def test_table_with_color_dims_muted_rows_and_bolds_headings() -> None:
    lines = render(sample_report(), "table", color=True).splitlines()
    dim = [line for line in lines if line.startswith("\x1b[2m")]
    assert any("2025-01" in line and line.endswith("·\x1b[0m") for line in dim)
    assert not any("2024-12" in line and "85.0 %" in line for line in dim)
    assert "\x1b[1mHEADLINE\x1b[0m" in lines


def test_table_too_wide_to_fit_is_wrapped_not_cut() -> None:
    columns = [f"column {n}" for n in range(15)]
    report = _tiny_report()
    report.sections.append(
        Section("wide", "Wide", tables=[Table("w", "Wide table", columns, [[*columns]])])
    )
    text = render(report, "table")
    # Squeezed to the narrowest readable width, the cells wrap; nothing is cut off.
    assert max(len(line) for line in text.splitlines()) > 100
    words = text.split()
    assert words.count("column") == 30
    assert all(words.count(str(n)) == 2 for n in range(15))


def test_table_renders_trend_charts_as_numbers_with_units() -> None:
    text = render(sample_report(), "table")
    block = text[text.index("Won revenue by source") :]
    assert "€80,000" in block.splitlines()[2]
    sla = text[text.index("SLA compliance") :].splitlines()
    assert sla[2].split() == ["2024-12", "90", "%", "85", "%"]
    assert sla[3].split() == ["2025-01", "93", "%"]


# --- shared conventions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.2, "percent", "20 %"),
        (0.1845, "percent", "18.4 %"),
        (150000, "money", "€150,000"),
        (60, "days", "60 d"),
        (2.5, "ratio", "2.5×"),
        (1234, "count", "1,234"),
    ],
)
def test_raw_numbers_are_formatted_by_unit(value: float, unit: str, expected: str) -> None:
    assert format_number(value, unit, "EUR") == expected  # type: ignore[arg-type]


def test_money_in_a_currency_without_symbol_names_the_code() -> None:
    assert format_number(150000, "money", "CHF", compact=True) == "150k CHF"


def test_durations_meet_their_target_from_below() -> None:
    assert target_met(Figure("t", "T", 45, "days", "45 d", target=60)) is True
    assert target_met(Figure("t", "T", 75, "days", "75 d", target=60)) is False
    assert target_met(Figure("r", "R", 0.25, "percent", "25 %", target=0.2)) is True
    assert target_met(Figure("r", "R", None, "percent", "—", target=0.2)) is None


def test_a_trend_series_shorter_than_its_months_has_gaps_not_errors() -> None:
    report = _tiny_report()
    chart = TrendChart("c", "Short", ["2024-11", "2024-12"], {"a": [1.0]})
    report.sections.append(Section("s", "S", charts=[chart]))
    for fmt in FORMATS:
        assert render(report, fmt)  # type: ignore[arg-type]
    data = json.loads(render(report, "json"))
    assert data["sections"][0]["charts"][0]["series"] == {"a": [1.0]}
