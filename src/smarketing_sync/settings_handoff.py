"""Configuration of hand-offs and the SLA: ``[handoff]`` and ``[sla]`` (docs/handoff.md)."""

from __future__ import annotations

from datetime import date, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from smarketing_sync.settings_base import Section

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKWEEK: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class TeamCalendar(Section):
    """A sales team's business hours: the SLA clock only runs while the team is open."""

    timezone: str = Field("UTC", description="IANA zone of the team, e.g. Europe/Berlin")
    days: list[Weekday] = Field(
        default_factory=lambda: list(WORKWEEK),
        description="open weekdays",
    )
    opens: time = Field(time(9, 0), description="local opening time")
    closes: time = Field(time(17, 0), description="local closing time (after opens)")
    holidays: list[date] = Field(default_factory=list, description="extra closed days")
    holiday_country: str | None = Field(
        None, description="ISO country whose public holidays close the team (holidays package)"
    )
    holiday_subdiv: str | None = Field(None, description="region of holiday_country, e.g. BY")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name") from None
        return value


class AlertTarget(Section):
    url: str = Field(description="webhook URL that receives the POST")
    format: Literal["json", "chat"] = Field(
        "json", description="json: generic event; chat: Slack/Mattermost/Teams-compatible {text}"
    )


class AlertSettings(Section):
    targets: list[AlertTarget] = Field(default_factory=list, description="first line of alerts")
    escalate_to: list[AlertTarget] = Field(
        default_factory=list, description="second line, when the breach is still open later"
    )
    escalate_after_h: float = Field(
        4.0, gt=0, description="business hours after a breach before escalating"
    )
    max_attempts: int = Field(8, ge=1, description="deliveries tried before giving up")
    backoff_s: float = Field(30.0, ge=0, description="first wait after a failed delivery; doubles")
    timeout_s: float = Field(10.0, gt=0)


class SlaSettings(Section):
    decision_within_h: float = Field(
        8.0, gt=0, description="business hours for sales to accept or reject a hand-off"
    )
    first_touch_within_h: float = Field(
        4.0, gt=0, description="business hours until the owner's first call, email or meeting"
    )
    touch_types: list[str] = Field(
        default_factory=lambda: ["call", "email", "meeting"],
        description="activity types that count as a first touch (done by the owner)",
    )
    default_team: str = "sales"
    teams: dict[str, TeamCalendar] = Field(default_factory=lambda: {"sales": TeamCalendar()})
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    def team(self, name: str | None) -> TeamCalendar:
        return self.teams.get(name or self.default_team) or self.teams[self.default_team]


class Owner(Section):
    id: str = Field(description="the user's id in the CRM")
    name: str = ""
    team: str | None = Field(None, description="SLA team (calendar); default: sla.default_team")
    pools: list[str] = Field(default_factory=lambda: ["default"])
    cap: int | None = Field(None, ge=0, description="most open hand-offs at once")
    away: bool = False
    away_until: date | None = Field(None, description="away up to and including this day")

    @field_validator("id", mode="before")
    @classmethod
    def _text_id(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class Territory(Section):
    """Customers matching ``when`` go to ``pool`` first (the first matching territory wins)."""

    pool: str
    when: dict[str, Any] = Field(
        description="customer field -> value, list of values, or {min, max}; all must match"
    )


class StateRule(Section):
    """A CRM fact that moves a hand-off: ``when`` tests facts such as ``lead.label``."""

    state: Literal["accepted", "rejected", "converted", "recycled"]
    when: dict[str, Any] = Field(description="fact -> value or list of values; all must match")
    reason: str | None = Field(None, description="the fact whose value is the reason")


class HandoffSettings(Section):
    enabled: bool = False
    crm: str | None = Field(None, description="connector where sales works")
    object: Literal["lead", "deal", "task"] = Field(
        "lead", description="what is created in the CRM (Pipedrive: lead or deal; HubSpot: task)"
    )
    pipeline: str | None = Field(None, description="pipeline id for object = deal")
    stage: str | None = Field(None, description="stage id for object = deal")
    title: str = "{name} – marketing qualified lead (score {score})"
    task_type: str = Field("call", description="type of the follow-up task due at the SLA time")
    task_subject: str = "Follow up with {name}: new MQL, decide by {due}"
    integration_user: str | None = Field(
        None,
        description="CRM user id of the API token: records it owns count as not yet owned",
    )
    owners: list[Owner] = Field(default_factory=list)
    territories: list[Territory] = Field(default_factory=list)
    states: list[StateRule] = Field(default_factory=list)
    reasons: list[str] = Field(
        default_factory=list, description="closed list of rejection reasons (others: 'other')"
    )
    max_attempts: int = Field(8, ge=1, description="CRM creations tried before dead-lettering")
    backlog_h: float = Field(
        24.0,
        ge=0,
        description="MQLs that entered up to this long before hand-offs were first enabled are "
        "handed over too; older ones are not (no flood of old MQLs onto sales)",
    )


#: HubSpot Original source values (hs_analytics_source) and common CRM "Lead source" options.
