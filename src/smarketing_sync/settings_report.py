"""Configuration of the KPI facts and report: ``[sources]`` and ``[report]`` (docs/kpis.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from smarketing_sync.settings_base import Section

MARKETING_SOURCES = (
    "ORGANIC_SEARCH",
    "PAID_SEARCH",
    "EMAIL_MARKETING",
    "SOCIAL_MEDIA",
    "REFERRALS",
    "PAID_SOCIAL",
    "DIRECT_TRAFFIC",
    "OTHER_CAMPAIGNS",
    "AI_REFERRALS",
    "Website",
    "Web form",
    "Webinar",
    "Event",
    "Paid ads",
    "Email campaign",
    "Social media",
)
#: OFFLINE is HubSpot's "Offline sources": imports, integrations and records created in the CRM.
SALES_SOURCES = ("OFFLINE", "Outbound", "Cold call", "Referral", "Partner", "Sales")


class SourceSettings(Section):
    """How a person's source (marketing- or sales-generated) is decided once (docs/kpis.md)."""

    fields: list[str] = Field(
        default_factory=lambda: ["lead_source"],
        description="customer fields holding the origin, first with a listed value decides",
    )
    marketing: list[str] = Field(
        default_factory=lambda: list(MARKETING_SOURCES),
        description="origin values of marketing-generated leads (case-insensitive)",
    )
    sales: list[str] = Field(
        default_factory=lambda: list(SALES_SOURCES),
        description="origin values of sales-generated leads (case-insensitive)",
    )
    crm: str | None = Field(
        None, description="connector where sales creates people; default: handoff.crm"
    )

    @field_validator("sales")
    @classmethod
    def _disjoint(cls, value: list[str], info: ValidationInfo) -> list[str]:
        marketing = {v.casefold() for v in info.data.get("marketing", [])}
        both = sorted(v for v in value if v.casefold() in marketing)
        if both:
            raise ValueError(f"listed as both marketing and sales: {', '.join(both)}")
        return value


class ReportSettings(Section):
    timezone: str | None = Field(None, description="reporting zone; default: the SLA team's")
    currency: str = Field("EUR", min_length=3, max_length=3)
    rates: dict[str, float] = Field(
        default_factory=dict, description="1 unit of the key currency in report currency"
    )
    margin: float | None = Field(None, gt=0, le=1, description="contribution margin for ROI")
    cohort_window_days: int = Field(90, gt=0)
    costs_file: Path | None = Field(None, description="campaign costs, CSV or TOML")
    attribution: Literal["first", "lead_creation", "last", "linear", "w_shaped"] = "w_shaped"
    targets: dict[str, float] = Field(default_factory=dict, description="KPI key -> target")
