"""What a computed report is, independent of how it is rendered.

The KPI code (``compute``) fills a ``Report``; the renderers (terminal table, CSV, JSON, HTML)
only know these generic pieces, so a new KPI never needs a renderer change. ``Report.data``
carries the machine keys of KPIS.md §2 (``handoffs``, ``sla_compliance``, ...) for JSON
consumers and tests; the sections carry what a person reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Unit = Literal["count", "percent", "money", "days", "hours", "ratio", "text"]


@dataclass(slots=True)
class Figure:
    """One headline number.

    ``value`` is the raw number (None: not computable, e.g. "not reached" or no data), and
    ``display`` is how a person reads it ("41.2 %", "€12,400", "not reached (> 40 d)").
    """

    key: str  # machine key, e.g. "handoffs"
    label: str
    value: float | None
    unit: Unit
    display: str
    note: str = ""  # e.g. "mature cohorts only", "margin 20 %", "model w_shaped"
    target: float | None = None
    change: str | None = None  # e.g. "+12 % vs 2025-01"


@dataclass(slots=True)
class Table:
    """A table of display values. ``muted`` rows are shown greyed (e.g. immature cohorts)."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    muted: set[int] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FunnelChart:
    """One funnel per series (e.g. marketing, sales): ordered (step, count) pairs."""

    key: str
    title: str
    series: dict[str, list[tuple[str, int]]]


@dataclass(slots=True)
class TrendChart:
    """Monthly values per series; ``None`` where a month has no value."""

    key: str
    title: str
    months: list[str]  # "YYYY-MM"
    series: dict[str, list[float | None]]
    unit: Unit = "count"
    stacked: bool = False


Chart = FunnelChart | TrendChart


@dataclass(slots=True)
class Section:
    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Report:
    title: str
    as_of: datetime
    months: list[str]  # the report range, "YYYY-MM" each
    timezone: str
    currency: str
    attribution: str
    sections: list[Section] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # machine keys (KPIS.md §2)

    def section(self, key: str) -> Section:
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)
