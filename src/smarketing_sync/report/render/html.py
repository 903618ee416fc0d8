"""The report as one self-contained HTML page: inline CSS, inline SVG charts, no script.

Nothing is fetched: no CDN, no font, no image, and a Content-Security-Policy that forbids
every load and every script, so even a name that slipped past escaping could not run. Every
text (names and emails come from vendor data) goes through ``html.escape``.

For scripts and tests: each section is ``<section data-section="<key>">``, each figure
``<li data-kpi="<key>" data-value="<raw number>">`` with its display text in ``.value`` (the
headline strip comes first in the page), each table ``<table data-table="<key>">`` and each
chart ``<figure data-chart="<key>">``, with its numbers in a table under the chart.
"""

from __future__ import annotations

from html import escape

from smarketing_sync.report.model import Chart, Figure, FunnelChart, Report, Section, Table
from smarketing_sync.report.render.common import (
    HEADLINE,
    cell_text,
    chart_table,
    figure_details,
    numeric_columns,
    ordered_sections,
    plain_number,
    target_met,
)
from smarketing_sync.report.render.svg import dom_id, funnel_svg, trend_svg

MUTED_LEGEND_HTML = "Greyed rows are provisional (e.g. cohorts too young to judge)."
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"

STYLE = """
:root { color-scheme: light; --ink: #1d232b; --soft: #4b5560; --muted: #8a929b;
  --line: #d9dde2; --card: #f4f6f8; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
header, main, footer { max-width: 1220px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 18px; }
h1 { font-size: 1.55rem; margin: 0 0 .2rem; }
h2 { font-size: 1.2rem; margin: 1.6rem 0 .8rem; padding-bottom: .2rem;
  border-bottom: 2px solid var(--line); }
.meta, .notes, footer { color: var(--soft); }
.meta { margin: 0 0 .6rem; }
nav ul { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 4px 14px;
  font-size: .9rem; }
nav a { color: #005a8c; }
.figures { list-style: none; padding: 0; margin: 0 0 1rem; display: grid; gap: 10px;
  grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); }
.figure { background: var(--card); border: 1px solid var(--line); border-radius: 6px;
  padding: 8px 12px; }
.figure .label, .figure .detail { display: block; font-size: .82rem; color: var(--soft); }
.figure .value { display: block; font-size: 1.5rem; font-weight: 650; line-height: 1.25;
  font-variant-numeric: tabular-nums; }
[data-section="headline"] .figure { border-left: 4px solid #0072B2; }
[data-section="headline"] .figure .value { font-size: 1.75rem; }
.figure .met { color: #1b6e35; }
.figure .missed { color: #a8281e; }
.table-wrap { overflow-x: auto; margin: 0 0 .4rem; }
table { border-collapse: collapse; width: auto; min-width: 55%; font-size: .88rem;
  font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; overflow-wrap: break-word; }
thead th { border-bottom: 2px solid #a9b0b8; white-space: nowrap; }
tbody th { font-weight: 500; }
.num { text-align: right; white-space: nowrap; }
tr.muted th, tr.muted td { color: var(--muted); }
.notes { font-size: .84rem; margin: .2rem 0 1rem; padding-left: 1.1rem; }
figure.chart { margin: .4rem 0 1.4rem; }
figure.chart figcaption { font-weight: 600; margin-bottom: .3rem; }
figure.chart .hint { font-weight: 400; color: var(--soft); font-size: .84rem; }
.chart-svg { display: block; width: 100%; max-width: 960px; height: auto; }
.chart-svg text { fill: var(--ink); font-family: inherit; }
details.alt { font-size: .86rem; margin-top: .3rem; }
details.alt summary { cursor: pointer; color: var(--soft); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10pt; background: none; }
  header, main, footer { max-width: none; padding: 0; }
  nav, details.alt { display: none; }
  .figure { background: none; }
  .figures { grid-template-columns: repeat(4, 1fr); }
  table, figure, .figure, .table-wrap, .notes { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .table-wrap { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""


def render_html(report: Report) -> str:
    sections = ordered_sections(report)
    months = f"{report.months[0]} – {report.months[-1]}" if report.months else "no months"
    meta = (
        f"{months} · as of {report.as_of.isoformat(sep=' ', timespec='minutes')} · "
        f"time zone {report.timezone} · amounts in {report.currency} · "
        f"attribution model {report.attribution}"
    )
    links = "".join(f'<li><a href="#{_section_id(s)}">{escape(s.title)}</a></li>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{escape(_CSP)}">',
        f"<title>{escape(report.title)} · {escape(months)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{escape(report.title)}</h1>",
        f'<p class="meta">{escape(meta)}</p>',
        f'<nav aria-label="Sections"><ul>{links}</ul></nav>',
        "</header>",
        "<main>",
        *(_section(section, report.currency) for section in sections),
        "</main>",
        "<footer><p>Written by smarketing-sync as one self-contained page: it loads nothing "
        "and runs no script. Greyed rows are provisional.</p></footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _section_id(section: Section) -> str:
    return dom_id("s", section.key)


def _section(section: Section, currency: str) -> str:
    section_id = _section_id(section)
    parts = [
        f'<section id="{section_id}" data-section="{escape(section.key)}" '
        f'aria-labelledby="{section_id}-h">',
        f'<h2 id="{section_id}-h">{escape(section.title)}</h2>',
    ]
    if section.figures:
        label = "Headline figures" if section.key == HEADLINE else f"{section.title}: figures"
        parts.append(f'<ul class="figures" aria-label="{escape(label)}">')
        parts += [_figure(figure, currency) for figure in section.figures]
        parts.append("</ul>")
    for index, table in enumerate(section.tables):
        parts.append(_table(table, dom_id("t", section.key, table.key, str(index))))
    for index, chart in enumerate(section.charts):
        parts.append(_chart(chart, currency, dom_id("c", section.key, chart.key, str(index))))
    if section.notes:
        parts.append(_notes(section.notes))
    parts.append("</section>")
    return "\n".join(parts)


def _figure(figure: Figure, currency: str) -> str:
    value = "" if figure.value is None else plain_number(figure.value)
    met = target_met(figure)
    details = []
    for detail in figure_details(figure, currency):
        css = "detail"
        if detail.startswith("target") and met is not None:
            css += " met" if met else " missed"
        details.append(f'<span class="{css}">{escape(detail)}</span>')
    return (
        f'<li class="figure" data-kpi="{escape(figure.key)}" data-unit="{escape(figure.unit)}" '
        f'data-value="{value}">'
        f'<span class="label">{escape(figure.label)}</span>'
        f'<span class="value">{escape(figure.display)}</span>' + "".join(details) + "</li>"
    )


def _table(table: Table, table_id: str) -> str:
    width = len(table.columns)
    rows = [[cell_text(cell) for cell in row] + [""] * (width - len(row)) for row in table.rows]
    numeric = numeric_columns(rows, width)
    head = "".join(
        f'<th scope="col"{_num(numeric[i])}>{escape(column)}</th>'
        for i, column in enumerate(table.columns)
    )
    body = []
    for index, row in enumerate(rows):
        muted = index in table.muted
        cells = []
        for column, text in enumerate(row[:width]):
            content = escape(text)
            if column == 0:
                if muted:
                    content += '<span class="visually-hidden"> (provisional)</span>'
                cells.append(f'<th scope="row"{_num(numeric[0])}>{content}</th>')
            else:
                cells.append(f"<td{_num(numeric[column])}>{content}</td>")
        row_class = ' class="muted"' if muted else ""
        body.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{max(width, 1)}">No rows.</td></tr>')
    notes = list(table.notes) + ([MUTED_LEGEND_HTML] if table.muted else [])
    return (
        f'<div class="table-wrap"><table id="{table_id}" data-table="{escape(table.key)}">'
        f"<caption>{escape(table.title)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        + (_notes(notes) if notes else "")
    )


def _chart(chart: Chart, currency: str, chart_id: str) -> str:
    if isinstance(chart, FunnelChart):
        svg = funnel_svg(chart, chart_id)
        hint = "counts per step; % from the previous step · cumulative from the first"
    else:
        svg = trend_svg(chart, currency, chart_id)
        hint = "stacked: the series add up" if chart.stacked else "one line per series"
    data = chart_table(chart, currency)
    alternative = Table(
        key=chart.key, title=f"{chart.title}: the numbers", columns=data.columns, rows=data.rows
    )
    table = _table(alternative, f"{chart_id}-data")
    return (
        f'<figure class="chart" data-chart="{escape(chart.key)}">'
        f'<figcaption>{escape(chart.title)} <span class="hint">({escape(hint)})</span>'
        f"</figcaption>\n{svg}\n"
        f'<details class="alt"><summary>The numbers behind this chart</summary>{table}</details>'
        "</figure>"
    )


def _notes(notes: list[str]) -> str:
    return '<ul class="notes">' + "".join(f"<li>{escape(note)}</li>" for note in notes) + "</ul>"


def _num(numeric: bool) -> str:
    return ' class="num"' if numeric else ""
