"""The report as JSON: settings, ``data`` (the machine keys of KPIS.md §2) and the sections.

Keys keep a fixed order (the report's settings, then ``data``, then ``sections``; inside, the
order of the model's fields), so two runs over the same store diff cleanly. Datetimes and dates
are ISO 8601, ``Decimal`` becomes a number, sets become sorted lists, and a non-finite float
(NaN, infinity) becomes ``null`` because JSON has no such number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from smarketing_sync.report.model import Chart, Figure, FunnelChart, Report, Section, Table


def render_json(report: Report) -> str:
    document = {
        "title": report.title,
        "as_of": report.as_of.isoformat(),
        "months": list(report.months),
        "timezone": report.timezone,
        "currency": report.currency,
        "attribution": report.attribution,
        "data": report.data,
        "sections": [_section(section) for section in report.sections],
    }
    return json.dumps(_plain(document), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _section(section: Section) -> dict[str, Any]:
    return {
        "key": section.key,
        "title": section.title,
        "figures": [_figure(figure) for figure in section.figures],
        "tables": [_table(table) for table in section.tables],
        "charts": [_chart(chart) for chart in section.charts],
        "notes": list(section.notes),
    }


def _figure(figure: Figure) -> dict[str, Any]:
    return {
        "key": figure.key,
        "label": figure.label,
        "value": figure.value,
        "unit": figure.unit,
        "display": figure.display,
        "note": figure.note,
        "target": figure.target,
        "change": figure.change,
    }


def _table(table: Table) -> dict[str, Any]:
    return {
        "key": table.key,
        "title": table.title,
        "columns": list(table.columns),
        "rows": [list(row) for row in table.rows],
        "muted": sorted(table.muted),
        "notes": list(table.notes),
    }


def _chart(chart: Chart) -> dict[str, Any]:
    if isinstance(chart, FunnelChart):
        return {
            "type": "funnel",
            "key": chart.key,
            "title": chart.title,
            "series": {
                name: [{"step": step, "count": count} for step, count in steps]
                for name, steps in chart.series.items()
            },
        }
    return {
        "type": "trend",
        "key": chart.key,
        "title": chart.title,
        "months": list(chart.months),
        "unit": chart.unit,
        "stacked": chart.stacked,
        "series": {name: list(values) for name, values in chart.series.items()},
    }


def _plain(value: Any) -> Any:
    """The value with only JSON's types in it (see the module docstring for the mapping)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(inner) for inner in value]
    if isinstance(value, set | frozenset):
        return [_plain(inner) for inner in sorted(value, key=str)]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return _plain(int(value) if value == value.to_integral_value() else float(value))
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
