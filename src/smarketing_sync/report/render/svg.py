"""Inline SVG charts for the HTML page, drawn from the model's raw numbers (no library, no JS).

Funnel: one funnel per series side by side, each scaled to its own first step so the shapes
compare; counts and conversion (from the previous step, cumulative from the first) are written
on every step. Trend: stacked bars when the chart is ``stacked`` (the series add up), else one
line per series with a dot per month; a month without a value leaves a gap. Colours are the
Okabe–Ito palette (distinguishable with colour-vision deficiency) and lines also differ in dash
pattern, so a greyscale print still tells them apart. Every mark has a ``<title>`` tooltip.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from html import escape

from smarketing_sync.report.model import FunnelChart, TrendChart
from smarketing_sync.report.render.common import (
    format_number,
    ratio_text,
    step_ratio_text,
    value_at,
)

WIDTH = 960
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#6B6B6B", "#000000")
DASHES = ("", "7 4", "2 3", "9 3 2 3")
Scale = Callable[[float], float]  # a value → its y-coordinate
Label = Callable[[float], str]  # a value → its text in the chart's unit
_CHAR_WIDTH = 7.0  # rough width of a 12 px glyph, for laying out labels without a font engine
_UNIT_TITLES = {
    "count": "count",
    "percent": "percent",
    "days": "days",
    "hours": "hours",
    "ratio": "ratio",
    "text": "",
}


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def dom_id(*parts: str) -> str:
    """An id safe in HTML and SVG references, made from keys that may hold anything."""
    return "-".join(re.sub(r"[^A-Za-z0-9_-]+", "_", part) for part in parts)


def funnel_svg(chart: FunnelChart, element_id: str) -> str:
    series = list(chart.series.items()) or [("", [])]
    panel = WIDTH / len(series)
    row_height, top = 46, 36
    height = top + max((len(steps) for _, steps in series), default=0) * row_height + 12
    height = max(height, 80)
    marks: list[str] = []
    for index, (name, steps) in enumerate(series):
        left = index * panel
        marks.append(_text(left + panel / 2, 20, name, anchor="middle", weight="600", size=14))
        if not steps:
            marks.append(_text(left + panel / 2, 52, "no data", anchor="middle"))
            continue
        first = steps[0][1]
        previous: int | None = None
        for row, (step, count) in enumerate(steps):
            y = top + row * row_height
            share = min(count / first, 1.0) if first > 0 else 0.0
            bar = max((panel - 16) * share, 2.0)
            marks.append(_text(left + 8, y + 13, f"{step}  {count:,}", weight="600"))
            conversion = "" if previous is None else _conversion(count, previous, first)
            if conversion:
                marks.append(_text(left + panel - 8, y + 13, conversion, anchor="end", size=11))
            tip = f"{name} · {step}: {count:,}" + (f" ({conversion})" if conversion else "")
            marks.append(
                _element(
                    "rect",
                    {
                        "x": _n(left + (panel - bar) / 2),
                        "y": _n(y + 19),
                        "width": _n(bar),
                        "height": "20",
                        "rx": "2",
                        "fill": color(index),
                    },
                    tip,
                )
            )
            previous = count
        if index:
            marks.append(_line(left, 4, left, height - 4, "#d9dde2"))
    summary = "; ".join(
        f"{name}: " + " → ".join(f"{step} {count:,}" for step, count in steps)
        for name, steps in series
    )
    return _svg(element_id, chart.title, f"Funnel per series. {summary}.", height, marks)


def _conversion(count: int, previous: int, first: int) -> str:
    return f"{step_ratio_text(count, previous)} · cum. {ratio_text(count, first)}"


def trend_svg(chart: TrendChart, currency: str, element_id: str) -> str:
    names = list(chart.series)
    legend, legend_height = _legend(names, lines=not chart.stacked)
    top, left, right, bottom, plot_height = 28 + legend_height, 72, 16, 40, 240
    plot_width = WIDTH - left - right
    height = top + plot_height + bottom
    months = chart.months
    low, high = _extent(chart)
    ticks = axis_ticks(low, high, integer=chart.unit == "count")
    low, high = ticks[0], ticks[-1]

    def y_of(value: float) -> float:
        return top + plot_height - (value - low) / (high - low) * plot_height

    marks = list(legend)
    unit_title = currency if chart.unit == "money" else _UNIT_TITLES[chart.unit]
    if unit_title:
        marks.append(_text(left - 8, top - 12, unit_title, anchor="end", size=11))
    for tick in ticks:
        y = y_of(tick)
        marks.append(_line(left, y, left + plot_width, y, "#1d232b" if tick == 0 else "#d9dde2"))
        label = format_number(tick, chart.unit, currency, compact=True)
        marks.append(_text(left - 8, y + 4, label, anchor="end", size=11))
    band = plot_width / max(len(months), 1)
    every = max(1, math.ceil(len(months) / 12))
    for index, month in enumerate(months):
        if index % every == 0:
            x = left + band * (index + 0.5)
            marks.append(_text(x, top + plot_height + 18, month, anchor="middle", size=11))
    marks.append(_text(left + plot_width / 2, height - 4, "month", anchor="middle", size=11))

    def unit_of(value: float) -> str:
        return format_number(value, chart.unit, currency)

    if chart.stacked:
        marks.extend(_stacked_bars(chart, left, band, y_of, unit_of))
    else:
        marks.extend(_lines(chart, left, band, y_of, unit_of))
    description = (
        f"Monthly {chart.title} from {months[0]} to {months[-1]}"
        if months
        else f"{chart.title}: no months"
    )
    stacking = "stacked bars" if chart.stacked else "one line per series"
    description += f", {stacking}: {', '.join(names) or 'no series'}."
    return _svg(element_id, chart.title, description, height, marks)


def _stacked_bars(
    chart: TrendChart, left: float, band: float, y_of: Scale, unit_of: Label
) -> Iterable[str]:
    width = band * 0.6
    for index, month in enumerate(chart.months):
        x = left + band * index + (band - width) / 2
        above, below = 0.0, 0.0
        for number, (name, values) in enumerate(chart.series.items()):
            value = value_at(values, index)
            if value is None or value == 0:
                continue
            base = above if value > 0 else below
            end = base + value
            y_top, y_bottom = sorted((y_of(base), y_of(end)))
            yield _element(
                "rect",
                {
                    "x": _n(x),
                    "y": _n(y_top),
                    "width": _n(width),
                    "height": _n(max(y_bottom - y_top, 0.5)),
                    "fill": color(number),
                },
                f"{month} · {name}: {unit_of(value)}",
            )
            if value > 0:
                above = end
            else:
                below = end


def _lines(
    chart: TrendChart, left: float, band: float, y_of: Scale, unit_of: Label
) -> Iterable[str]:
    for number, (name, values) in enumerate(chart.series.items()):
        points = [
            (index, left + band * (index + 0.5), value)
            for index in range(len(chart.months))
            if (value := value_at(values, index)) is not None
        ]
        path: list[str] = []
        for position, (index, x, value) in enumerate(points):
            joined = position > 0 and points[position - 1][0] == index - 1
            path.append(f"{'L' if joined else 'M'}{_n(x)} {_n(y_of(value))}")
        attributes = {"fill": "none", "stroke": color(number), "stroke-width": "2.5"}
        if DASHES[number % len(DASHES)]:
            attributes["stroke-dasharray"] = DASHES[number % len(DASHES)]
        if path:
            yield _element("path", {"d": " ".join(path), **attributes})
        for index, x, value in points:
            yield _element(
                "circle",
                {"cx": _n(x), "cy": _n(y_of(value)), "r": "4", "fill": color(number)},
                f"{chart.months[index]} · {name}: {unit_of(value)}",
            )


def _extent(chart: TrendChart) -> tuple[float, float]:
    values: list[float] = []
    for index in range(len(chart.months)):
        month = [
            v for series in chart.series.values() if (v := value_at(series, index)) is not None
        ]
        if chart.stacked:
            values += [sum(v for v in month if v > 0), sum(v for v in month if v < 0)]
        else:
            values += month
    low, high = min([0.0, *values]), max([0.0, *values])
    if high == low:
        high = low + 1.0
    return low, high


def axis_ticks(low: float, high: float, *, integer: bool) -> list[float]:
    """Round tick values (1, 2 or 5 × 10ⁿ apart) covering [low, high]: three to six of them."""
    raw = (high - low) / 4
    exponent = math.floor(math.log10(raw))
    fraction = raw / 10**exponent
    nice = next(f for f in (1, 2, 5, 10) if fraction <= f) * 10**exponent
    step = max(nice, 1.0) if integer else nice
    first, last = math.floor(low / step), math.ceil(high / step)
    return [round(k * step, 10) for k in range(first, last + 1)]


def _legend(names: list[str], *, lines: bool) -> tuple[list[str], int]:
    marks: list[str] = []
    x, y = 72.0, 14.0
    for index, name in enumerate(names):
        width = 28 + len(name) * _CHAR_WIDTH + 18
        if x + width > WIDTH and x > 72:
            x, y = 72.0, y + 20
        if lines:
            attributes = {"stroke": color(index), "stroke-width": "3"}
            if DASHES[index % len(DASHES)]:
                attributes["stroke-dasharray"] = DASHES[index % len(DASHES)]
            coordinates = {"x1": _n(x), "y1": _n(y), "x2": _n(x + 22), "y2": _n(y)}
            marks.append(_element("line", {**coordinates, **attributes}))
        else:
            box = {"x": _n(x + 5), "y": _n(y - 6), "width": "12", "height": "12"}
            marks.append(_element("rect", {**box, "fill": color(index)}))
        marks.append(_text(x + 28, y + 4, name))
        x += width
    return marks, int(y + 6) if names else 0


def _svg(element_id: str, title: str, description: str, height: float, marks: list[str]) -> str:
    title_id, desc_id = f"{element_id}-title", f"{element_id}-desc"
    head = _attributes(
        {
            "id": element_id,
            "class": "chart-svg",
            "viewBox": f"0 0 {WIDTH} {_n(height)}",
            "width": str(WIDTH),
            "height": _n(height),
            "role": "img",
            "aria-labelledby": f"{title_id} {desc_id}",
        }
    )
    return (
        f"<svg {head}>"
        f'<title id="{title_id}">{escape(title)}</title>'
        f'<desc id="{desc_id}">{escape(description)}</desc>\n' + "\n".join(marks) + "\n</svg>"
    )


def _text(
    x: float,
    y: float,
    content: str,
    *,
    anchor: str = "start",
    weight: str = "400",
    size: int = 12,
) -> str:
    attributes = {"x": _n(x), "y": _n(y), "text-anchor": anchor, "font-size": str(size)}
    if weight != "400":
        attributes["font-weight"] = weight
    return f"<text {_attributes(attributes)}>{escape(content)}</text>"


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str) -> str:
    coordinates = {"x1": _n(x1), "y1": _n(y1), "x2": _n(x2), "y2": _n(y2)}
    return _element("line", {**coordinates, "stroke": stroke, "stroke-width": "1"})


def _element(name: str, attributes: Mapping[str, str], tooltip: str = "") -> str:
    if tooltip:
        return f"<{name} {_attributes(attributes)}><title>{escape(tooltip)}</title></{name}>"
    return f"<{name} {_attributes(attributes)} />"


def _attributes(attributes: Mapping[str, str]) -> str:
    return " ".join(f'{key}="{escape(value)}"' for key, value in attributes.items())


def _n(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
