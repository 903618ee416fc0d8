"""What one report is computed for: range, ``as_of``, zone, money and SLA policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from smarketing_sync.settings import ReportSettings, SlaSettings

MODELS = ("first", "lead_creation", "last", "linear", "w_shaped")


@dataclass(slots=True)
class ReportOptions:
    months: list[str]
    as_of: datetime
    timezone: str
    currency: str = "EUR"
    rates: dict[str, float] = field(default_factory=dict)
    margin: float | None = None
    window_days: int = 90
    model: str = "w_shaped"
    targets: dict[str, float] = field(default_factory=dict)
    sla: SlaSettings = field(default_factory=SlaSettings)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_settings(
        cls,
        report: ReportSettings,
        sla: SlaSettings,
        *,
        months: list[str],
        as_of: datetime,
        timezone: str | None = None,
        model: str | None = None,
    ) -> ReportOptions:
        """Zone: the flag, else ``report.timezone``, else the SLA default team's (KPIS §8.7)."""
        zone = timezone or report.timezone or sla.team(None).timezone
        return cls(
            months=months,
            as_of=as_of,
            timezone=zone,
            currency=report.currency.upper(),
            rates={k.upper(): v for k, v in report.rates.items()},
            margin=report.margin,
            window_days=report.cohort_window_days,
            model=model or report.attribution,
            targets=dict(report.targets),
            sla=sla,
        )


def settings_from_config(config: dict[str, Any]) -> tuple[ReportSettings, SlaSettings]:
    """The ``report`` and ``sla`` sections a facts file may carry."""
    return (
        ReportSettings.model_validate(config.get("report", {})),
        SlaSettings.model_validate(config.get("sla", {})),
    )
