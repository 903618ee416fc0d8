"""What the section builders share: the data, the options and how values read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smarketing_sync.report import display as show
from smarketing_sync.report.kpis.months import shift
from smarketing_sync.report.options import ReportOptions


@dataclass(slots=True)
class View:
    data: dict[str, Any]
    options: ReportOptions

    def money(self, value: float | None, unconverted: dict[str, float] | None = None) -> str:
        return show.money(value, self.options.currency, unconverted)

    def local(self, iso: str) -> str:
        return datetime.fromisoformat(iso).astimezone(self.options.tz).strftime("%Y-%m-%d %H:%M")

    @property
    def months(self) -> list[str]:
        return self.options.months

    def month(self, m: str) -> dict[str, Any]:
        by_month: dict[str, Any] = self.data["by_month"][m]
        return by_month

    def last_change(self, key: str) -> tuple[str | None, str | None]:
        """Change of the range's last full month against the month before it."""
        full = self.data["full_months"]
        if not full:
            return None, None
        last = full[-1]
        before = shift(last, -1)
        previous = self.data["by_month"].get(before, {}).get(key)
        current = self.month(last)[key]
        note = f"{last}: {current:,.0f}" if isinstance(current, int | float) else None
        return note, show.change(current, previous, before)
