"""The report in a terminal: headline strip first, then each section; fits 100 columns.

Columns shrink (widest first) and their cells wrap when a table is wider than the screen; a
table that cannot shrink enough (too many columns) is printed wider rather than cut. Muted rows
end in ``·``, and with ``color`` (a TTY) they are dim and headings bold.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from smarketing_sync.report.model import Chart, Figure, FunnelChart, Report, Section, Table
from smarketing_sync.report.render.common import (
    MUTED_LEGEND,
    MUTED_MARK,
    cell_text,
    chart_table,
    figure_details,
    numeric_columns,
    ordered_sections,
    ratio_text,
    step_ratio_text,
)

WIDTH = 100
INDENT = "  "
GAP = "  "
BAR_WIDTH = 24
PROSE_WIDTH = 20  # narrowest column that text is wrapped into before words are broken
_BOLD, _DIM, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


@dataclass(slots=True)
class _Lines:
    color: bool
    width: int
    lines: list[str] = field(default_factory=list)

    def add(self, text: str = "", style: str = "") -> None:
        self.lines.append(f"{style}{text}{_RESET}" if style and self.color and text else text)

    def paragraph(self, text: str, prefix: str = INDENT) -> None:
        wrapped = textwrap.wrap(text, self.width - len(prefix), subsequent_indent="  ") or [""]
        for line in wrapped:
            self.add(prefix + line)


def render_table(report: Report, *, color: bool = False, width: int = WIDTH) -> str:
    out = _Lines(color, width)
    out.add(report.title, _BOLD)
    months = f"{report.months[0]} – {report.months[-1]}" if report.months else "no months"
    out.paragraph(
        f"{months} · as of {report.as_of.isoformat(sep=' ', timespec='minutes')} · "
        f"{report.timezone} · {report.currency} · attribution: {report.attribution}",
        prefix="",
    )
    for section in ordered_sections(report):
        _section(out, section, report.currency)
    return "\n".join(out.lines) + "\n"


def _section(out: _Lines, section: Section, currency: str) -> None:
    out.add()
    out.add(section.title.upper(), _BOLD)
    out.add("─" * min(out.width, max(len(section.title), 3)))
    if section.figures:
        _figures(out, section.figures, currency)
    for table in section.tables:
        out.add()
        _table(out, table)
    for chart in section.charts:
        out.add()
        _chart(out, chart, currency)
    if section.notes:
        out.add()
        for note in section.notes:
            out.paragraph(f"Note: {note}")


def _figures(out: _Lines, figures: list[Figure], currency: str) -> None:
    label_width = min(max(len(f.label) for f in figures), 34)
    display_width = min(max(len(f.display) for f in figures), 24)
    rest = out.width - len(INDENT) - label_width - display_width - 2 * len(GAP)
    for figure in figures:
        details = " · ".join(figure_details(figure, currency))
        if rest >= 24:
            cells = [figure.label, figure.display, details]
            widths = [label_width, display_width, rest]
        else:
            cells, widths = [figure.label, figure.display], [label_width, display_width]
        for line in _row_lines(cells, widths, [False] * len(cells)):
            out.add(INDENT + line.rstrip())
        if rest < 24 and details:
            out.paragraph(details, prefix=INDENT * 3)


def _table(out: _Lines, table: Table) -> None:
    columns = len(table.columns)
    rows = [[cell_text(cell) for cell in row] + [""] * (columns - len(row)) for row in table.rows]
    right = numeric_columns(rows, columns)
    marker = len(GAP) + len(MUTED_MARK) if table.muted else 0
    budget = out.width - len(INDENT) - len(GAP) * (columns - 1) - marker
    widths = _fit([table.columns, *rows], budget)
    out.add(INDENT + table.title, _BOLD)
    for line in _row_lines(table.columns, widths, right):
        out.add(INDENT + line.rstrip(), _BOLD)
    out.add(INDENT + "─" * (sum(widths) + len(GAP) * (columns - 1)))
    for index, row in enumerate(rows):
        muted = index in table.muted
        for number, line in enumerate(_row_lines(row, widths, right)):
            mark = GAP + MUTED_MARK if muted and number == 0 else ""
            out.add(INDENT + (line + mark).rstrip(), _DIM if muted else "")
    if not rows:
        out.add(INDENT + "(no rows)")
    for note in table.notes:
        out.paragraph(f"Note: {note}")
    if table.muted:
        out.paragraph(f"{MUTED_MARK} {MUTED_LEGEND}")


def _chart(out: _Lines, chart: Chart, currency: str) -> None:
    out.add(INDENT + chart.title, _BOLD)
    if isinstance(chart, FunnelChart):
        _funnel(out, chart)
        return
    data = chart_table(chart, currency)
    budget = out.width - len(INDENT) - len(GAP) * (len(data.columns) - 1)
    widths = _fit([data.columns, *data.rows], budget)
    right = [False] + [True] * (len(data.columns) - 1)
    for line in _row_lines(data.columns, widths, right):
        out.add(INDENT + line.rstrip(), _BOLD)
    for row in data.rows:
        for line in _row_lines(row, widths, right):
            out.add(INDENT + line.rstrip())
    if chart.stacked:
        out.paragraph("(stacked: the series add up to the month's total)")


def _funnel(out: _Lines, chart: FunnelChart) -> None:
    steps = [step for series in chart.series.values() for step, _ in series]
    step_width = min(max((len(step) for step in steps), default=4), 24)
    header = ["", "", "count", "from previous", "from first"]
    widths = [step_width, BAR_WIDTH, 9, 13, 10]
    right = [False, False, True, True, True]
    for series, pairs in chart.series.items():
        out.add(INDENT + series)
        for line in _row_lines(header, widths, right):
            out.add(INDENT * 2 + line.rstrip(), _DIM)
        top = pairs[0][1] if pairs else 0
        previous: int | None = None
        for step, count in pairs:
            share = min(count / top, 1.0) if top else 0.0
            bar = "█" * max(round(share * BAR_WIDTH), 1 if count else 0)
            cells = [
                step,
                bar,
                f"{count:,}",
                "" if previous is None else step_ratio_text(count, previous),
                "" if previous is None else ratio_text(count, top),
            ]
            for line in _row_lines(cells, widths, right):
                out.add(INDENT * 2 + line.rstrip())
            previous = count


def _fit(rows: Sequence[Sequence[str]], budget: int) -> list[int]:
    """Column widths: natural widths, the widest shrunk first until the row fits the budget."""
    columns = len(rows[0])
    natural = [
        max((_longest_line(row[i]) for row in rows if i < len(row)), default=0)
        for i in range(columns)
    ]
    header_words = [_longest_word([rows[0][i]]) for i in range(columns)]
    hard_floor = [min(natural[i], max(6, min(header_words[i], 12))) for i in range(columns)]
    # Give way in this order: wrap text between words down to a readable measure, then break
    # long words (emails, ids), then squeeze everything to the headings' width.
    prose_floor = [max(hard_floor[i], min(natural[i], PROSE_WIDTH)) for i in range(columns)]
    word_floor = [
        max(prose_floor[i], min(_longest_word(row[i] for row in rows if i < len(row)), 32))
        for i in range(columns)
    ]
    widths = [max(w, 1) for w in natural]
    for floor in (word_floor, prose_floor, hard_floor):
        while sum(widths) > budget:
            shrinkable = [i for i in range(columns) if widths[i] > floor[i]]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i])
            widths[widest] -= 1
    return widths


def _longest_word(texts: Iterable[str]) -> int:
    return max((len(word) for text in texts for word in text.split()), default=0)


def _longest_line(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _row_lines(cells: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> list[str]:
    wrapped = [_wrap(cell, width) for cell, width in zip(cells, widths, strict=True)]
    height = max(len(lines) for lines in wrapped)
    lines = []
    for number in range(height):
        parts = []
        for column, width in enumerate(widths):
            text = wrapped[column][number] if number < len(wrapped[column]) else ""
            parts.append(text.rjust(width) if right[column] else text.ljust(width))
        lines.append(GAP.join(parts))
    return lines


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines.extend(textwrap.wrap(paragraph, width, break_long_words=True) or [""])
    return lines
