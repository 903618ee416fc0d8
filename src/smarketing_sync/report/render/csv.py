"""The report as one tidy CSV document that a spreadsheet can filter and pivot.

Every value is one line with the columns ``section,kind,item,row,column,value,muted``:

============  ==============================  ====================  ===============================
kind          item                            row                   column / value
============  ==============================  ====================  ===============================
``meta``      title, as_of, months, ...       (empty)               (empty) / the report's setting
``title``     section, table or chart key     (empty)               (empty) / its title
``figure``    figure key                      figure label          value, display, unit, target,
                                                                    change, note / that attribute
``table``     table key                       row number, from 1    column heading / the cell
``chart``     chart key                       funnel step or month  series / the raw number
``note``      table key (empty: section's)    note number, from 1   (empty) / the note
``data``      first key of ``Report.data``    second key            the further keys joined by
                                                                    ``.`` / the scalar there
============  ==============================  ====================  ===============================

``muted`` is ``true`` on the cells of a muted table row (e.g. an immature cohort), else empty.
Pivot ``kind=table, item=<key>`` with rows ``row`` and columns ``column`` to get a table back;
``data`` holds the machine keys of KPIS.md §2 (e.g. item ``handoffs``, row ``2025-01``).

Raw numbers (figure value/target, chart values, data) carry no thousands separators and read
back to the same number; table cells are the KPI code's display text, unchanged. Datetimes
are ISO 8601. The text is Unicode (write it as UTF-8), quoted by the csv module (RFC 4180,
CRLF line ends). Cells come from vendor data, so a text cell that a spreadsheet would run as a
formula (starting with ``=``, ``@``, a tab or CR, or ``+``/``-`` and more not led by a digit, or a
signed text holding ``(``, ``|``, ``!`` or ``=``) gets a leading ``'``, the usual defence
against CSV formula injection.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from smarketing_sync.report.model import Chart, Figure, FunnelChart, Report, Section, Table
from smarketing_sync.report.render.common import cell_text, plain_number, value_at

HEADER = ("section", "kind", "item", "row", "column", "value", "muted")
CsvRow = tuple[str, str, str, str, str, str, str]
_FORMULA_START = ("=", "@", "\t", "\r")
_SIGNED_FORMULA_CHARS = set("(|!=")


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(_report_rows(report))
    return buffer.getvalue()


def neutralize(text: str) -> str:
    """Text a spreadsheet would evaluate as a formula, made inert with a leading quote."""
    if text.startswith(_FORMULA_START):
        return "'" + text
    if (
        len(text) > 1
        and text[0] in ("+", "-")
        and (not text[1:2].isdigit() or _SIGNED_FORMULA_CHARS.intersection(text))
    ):
        return "'" + text
    return text


def _report_rows(report: Report) -> Iterator[CsvRow]:
    meta = {
        "title": report.title,
        "as_of": report.as_of.isoformat(),
        "months": " ".join(report.months),
        "timezone": report.timezone,
        "currency": report.currency,
        "attribution": report.attribution,
    }
    for key, value in meta.items():
        yield _row("", "meta", key, "", "", value)
    for section in report.sections:
        yield from _section_rows(section)
    for path, value in _flatten(report.data, ()):
        item, row, column = path[0], (path[1] if len(path) > 1 else ""), ".".join(path[2:])
        yield _row("", "data", item, row, column, _scalar(value))


def _section_rows(section: Section) -> Iterator[CsvRow]:
    yield _row(section.key, "title", section.key, "", "", section.title)
    for figure in section.figures:
        yield from _figure_rows(section.key, figure)
    for table in section.tables:
        yield from _table_rows(section.key, table)
    for chart in section.charts:
        yield from _chart_rows(section.key, chart)
    for number, note in enumerate(section.notes, start=1):
        yield _row(section.key, "note", "", str(number), "", note)


def _figure_rows(section: str, figure: Figure) -> Iterator[CsvRow]:
    attributes = {
        "value": "" if figure.value is None else plain_number(figure.value),
        "display": figure.display,
        "unit": figure.unit,
        "target": "" if figure.target is None else plain_number(figure.target),
        "change": figure.change or "",
        "note": figure.note,
    }
    for column, value in attributes.items():
        yield _row(section, "figure", figure.key, figure.label, column, value)


def _table_rows(section: str, table: Table) -> Iterator[CsvRow]:
    yield _row(section, "title", table.key, "", "", table.title)
    for index, cells in enumerate(table.rows):
        muted = "true" if index in table.muted else ""
        for column, cell in zip(table.columns, cells, strict=False):
            yield _row(section, "table", table.key, str(index + 1), column, cell_text(cell), muted)
    for number, note in enumerate(table.notes, start=1):
        yield _row(section, "note", table.key, str(number), "", note)


def _chart_rows(section: str, chart: Chart) -> Iterator[CsvRow]:
    yield _row(section, "title", chart.key, "", "", chart.title)
    if isinstance(chart, FunnelChart):
        for series, steps in chart.series.items():
            for step, count in steps:
                yield _row(section, "chart", chart.key, step, series, str(count))
        return
    for index, month in enumerate(chart.months):
        for series, values in chart.series.items():
            value = value_at(values, index)
            text = "" if value is None else plain_number(value)
            yield _row(section, "chart", chart.key, month, series, text)


def _flatten(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _flatten(inner, (*path, str(key)))
    elif isinstance(value, list | tuple) and path:
        for index, inner in enumerate(value):
            yield from _flatten(inner, (*path, str(index)))
    elif path:
        yield path, value


def _scalar(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return plain_number(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return cell_text(value)


def _row(
    section: str, kind: str, item: str, row: str, column: str, value: str, muted: str = ""
) -> CsvRow:
    return (
        neutralize(section),
        kind,
        neutralize(item),
        neutralize(row),
        neutralize(column),
        neutralize(value),
        muted,
    )
