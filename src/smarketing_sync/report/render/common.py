"""What every renderer shares: section order, cell text, numeric columns, targets, axis numbers.

Conventions the KPI code follows (docs/kpis.md repeats them):

* The section with key ``headline`` is the headline strip: the human renderers (table, HTML)
  draw it first, whatever its position in ``Report.sections``.
* Raw numbers (``Figure.value``, ``Figure.target``, chart values) of unit ``percent`` are
  fractions: 0.412 is 41.2 %. Durations are in their unit (days, hours); money is in the
  report currency.
* Lower is better for durations (``days``, ``hours``): a target is met when the value is at or
  below it; for every other unit when the value is at or above it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from smarketing_sync.report.model import Chart, Figure, FunnelChart, Report, Section, Unit

HEADLINE = "headline"
MUTED_MARK = "·"
MUTED_LEGEND = "rows marked · are provisional (e.g. cohorts too young to judge)"

_CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
# A display value that reads as a number: "1,200", "41.2 %", "€12,400", "-3 d", "2.4×", "12 USD".
_NUMERIC = re.compile(
    r"^[+\-−]?(?:[€$£¥]\s?|[A-Z]{3}\s)?[+\-−]?\d[\d,.\u00a0\u202f ]*"
    r"(?:\s?(?:%|pp|d|h|×|x|[A-Z]{3}|[€$£¥]))?$"
)
_PLACEHOLDERS = {"", "—", "–", "-", "n/a"}


def ordered_sections(report: Report) -> list[Section]:
    """The headline section first, the others in the order the KPI code gave."""
    headline = [s for s in report.sections if s.key == HEADLINE]
    return headline + [s for s in report.sections if s.key != HEADLINE]


def cell_text(value: Any) -> str:
    """A table cell as text. Cells are display values already; only non-strings need a form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return plain_number(value)
    return str(value)


def plain_number(value: float) -> str:
    """A raw number without thousands separators that reads back to the same value."""
    if isinstance(value, int) or (
        math.isfinite(value) and value.is_integer() and abs(value) < 1e15
    ):
        return str(int(value))
    return repr(float(value))


def is_numeric_text(text: str) -> bool:
    return bool(_NUMERIC.match(text.strip()))


def numeric_columns(rows: list[list[Any]], width: int) -> list[bool]:
    """Columns to right-align: every filled cell reads as a number and at least one is filled."""
    result: list[bool] = []
    for index in range(width):
        cells = [cell_text(row[index]).strip() for row in rows if index < len(row)]
        filled = [cell for cell in cells if cell not in _PLACEHOLDERS]
        result.append(bool(filled) and all(is_numeric_text(cell) for cell in filled))
    return result


def lower_is_better(unit: Unit) -> bool:
    return unit in ("days", "hours")


def target_met(figure: Figure) -> bool | None:
    if figure.target is None or figure.value is None:
        return None
    if lower_is_better(figure.unit):
        return figure.value <= figure.target
    return figure.value >= figure.target


def target_text(figure: Figure, currency: str) -> str:
    """'target ≤ 60 d · missed' — the target is a raw number, so it is formatted here."""
    if figure.target is None:
        return ""
    bound = "≤ " if lower_is_better(figure.unit) else ""
    text = f"target {bound}{format_number(figure.target, figure.unit, currency)}"
    met = target_met(figure)
    if met is not None:
        text += " · met" if met else " · missed"
    return text


def figure_details(figure: Figure, currency: str) -> list[str]:
    """The small print under a figure's number, in reading order."""
    return [
        part for part in (target_text(figure, currency), figure.change or "", figure.note) if part
    ]


def format_number(value: float, unit: Unit, currency: str, *, compact: bool = False) -> str:
    """A raw number for a person (targets, axis ticks, chart labels): the unit's usual form."""
    if unit == "percent":
        return f"{_trim(value * 100, 1)} %"
    if unit == "money":
        amount = _compact(value) if compact else f"{value:,.0f}"
        symbol = _CURRENCY_SYMBOLS.get(currency)
        return f"{symbol}{amount}" if symbol else f"{amount} {currency}"
    if unit == "days":
        return f"{_trim(value, 1)} d"
    if unit == "hours":
        return f"{_trim(value, 1)} h"
    if unit == "ratio":
        return f"{_trim(value, 2)}×"
    if compact:
        return _compact(value)
    return f"{value:,.0f}" if float(value).is_integer() else f"{_trim(value, 2)}"


def _trim(value: float, digits: int) -> str:
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _compact(value: float) -> str:
    magnitude = abs(value)
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= threshold:
            return f"{_trim(value / threshold, 1)}{suffix}"
    return _trim(value, 1)


def ratio_text(numerator: float, denominator: float) -> str:
    if denominator == 0:
        return "—"
    return f"{numerator / denominator * 100:.1f} %"


def step_ratio_text(count: float, previous: float) -> str:
    """Next-step conversion; "—" where more people are at this step than at the one before
    (they entered here, skipping a step), as a rate above 100 % would mean nothing."""
    if count > previous:
        return "—"
    return ratio_text(count, previous)


@dataclass(slots=True)
class ChartTable:
    """A chart's numbers as a plain table: the text alternative and the terminal form."""

    columns: list[str]
    rows: list[list[str]]


def chart_table(chart: Chart, currency: str) -> ChartTable:
    if isinstance(chart, FunnelChart):
        rows: list[list[str]] = []
        for series, steps in chart.series.items():
            first = steps[0][1] if steps else 0
            previous: int | None = None
            for step, count in steps:
                next_step = "" if previous is None else step_ratio_text(count, previous)
                cumulative = "" if previous is None else ratio_text(count, first)
                rows.append([series, step, f"{count:,}", next_step, cumulative])
                previous = count
        return ChartTable(["Series", "Step", "Count", "From previous", "From first"], rows)
    columns = ["Month", *chart.series]
    trend_rows = []
    for index, month in enumerate(chart.months):
        cells = [month]
        for values in chart.series.values():
            value = value_at(values, index)
            cells.append("" if value is None else format_number(value, chart.unit, currency))
        trend_rows.append(cells)
    return ChartTable(columns, trend_rows)


def value_at(values: list[float | None], index: int) -> float | None:
    """A series' value for a month; a series shorter than the months has no value there."""
    if index >= len(values):
        return None
    value = values[index]
    return value if value is None or math.isfinite(value) else None
