"""Renderers of a computed ``Report``: terminal table, CSV, JSON and a self-contained HTML page.

They draw only from ``report.model``, so a new KPI needs no renderer change. The section with
key ``headline`` is the headline strip (drawn first by the table and HTML renderers); the other
conventions the KPI code follows are in ``render/common.py``.
"""

from __future__ import annotations

from typing import Literal, get_args

from smarketing_sync.report.model import Report
from smarketing_sync.report.render.csv import render_csv
from smarketing_sync.report.render.html import render_html
from smarketing_sync.report.render.json import render_json
from smarketing_sync.report.render.table import render_table

Format = Literal["table", "csv", "json", "html"]
FORMATS: tuple[Format, ...] = get_args(Format)

__all__ = ["FORMATS", "Format", "render"]


def render(report: Report, fmt: Format, *, color: bool = False) -> str:
    """The report as text in ``fmt``; ``color`` adds ANSI styles to ``table`` (for a TTY)."""
    if fmt == "table":
        return render_table(report, color=color)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "json":
        return render_json(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"report format {fmt!r} is not one of: {', '.join(FORMATS)}")
