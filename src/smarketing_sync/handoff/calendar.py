"""Business hours of a sales team: the clock SLA due times and durations are measured on.

Semantics follow Salesforce ``BusinessHours`` (KPIS §1.4): time only counts inside the team's
opening hours on open weekdays that are not holidays, in the team's own time zone. A clock
started outside hours starts at the next opening; a due time that lands exactly on closing time
stays there. Opening hours are wall-clock times, so a 09:00–17:00 day is 8 h on DST days too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_data

from smarketing_sync.errors import ConfigError
from smarketing_sync.settings import TeamCalendar

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOUR = timedelta(hours=1)
# A calendar without one open hour in a year is misconfigured (every day a holiday, say);
# without this bound such a calendar would make add() and next_open() search forever.
_MAX_CLOSED_DAYS = 366


def _utc(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC or with an offset), got {at!r}")
    return at.astimezone(UTC)


class BusinessCalendar:
    """One team's opening hours; every datetime in and out is timezone-aware (out: UTC)."""

    def __init__(
        self,
        *,
        zone: str = "UTC",
        days: Iterable[str] = WEEKDAYS[:5],
        opens: time = time(9, 0),
        closes: time = time(17, 0),
        holidays: Iterable[date] = (),
        holiday_country: str | None = None,
        holiday_subdiv: str | None = None,
        where: str = "sla.teams.<team>",
    ) -> None:
        try:
            self.zone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                "unknown time zone",
                key=f"{where}.timezone",
                expected="an IANA zone name such as 'Europe/Berlin'",
                found=zone,
            ) from None
        unknown = [d for d in days if d not in WEEKDAYS]
        if unknown:
            raise ConfigError(
                "unknown weekday",
                key=f"{where}.days",
                expected=f"some of {', '.join(WEEKDAYS)}",
                found=unknown,
            )
        self.weekdays = frozenset(WEEKDAYS.index(d) for d in days)
        if not self.weekdays:
            raise ConfigError(
                "the team has no open weekday, so an SLA clock would never run",
                key=f"{where}.days",
                expected="at least one weekday",
                found=[],
            )
        # Overnight shifts (closes before opens) are not supported: a day's window must not
        # cross midnight, which keeps one window per local date.
        if closes.replace(tzinfo=None) <= opens.replace(tzinfo=None):
            raise ConfigError(
                "closing time must be after opening time on the same day",
                key=f"{where}.closes",
                expected=f"a time after opens={opens.isoformat('minutes')}",
                found=closes.isoformat("minutes"),
            )
        self.opens = opens.replace(tzinfo=None)
        self.closes = closes.replace(tzinfo=None)
        self.extra_holidays = frozenset(holidays)
        self.holiday_country = holiday_country
        self.holiday_subdiv = holiday_subdiv
        self._public: dict[int, frozenset[date]] = {}
        if holiday_country is not None:
            _check_region(holiday_country, holiday_subdiv, where)

    @classmethod
    def from_settings(
        cls, team: TeamCalendar, *, where: str = "sla.teams.<team>"
    ) -> BusinessCalendar:
        """``where`` names the team's config section in error messages, e.g. ``sla.teams.sales``."""
        return cls(
            zone=team.timezone,
            days=team.days,
            opens=team.opens,
            closes=team.closes,
            holidays=team.holidays,
            holiday_country=team.holiday_country,
            holiday_subdiv=team.holiday_subdiv,
            where=where,
        )

    def is_holiday(self, day: date) -> bool:
        if day in self.extra_holidays:
            return True
        if self.holiday_country is None:
            return False
        public = self._public.get(day.year)
        if public is None:
            generated = holiday_data.country_holidays(
                self.holiday_country, subdiv=self.holiday_subdiv, years=day.year
            )
            public = self._public[day.year] = frozenset(generated.keys())
        return day in public

    def is_open(self, at: datetime) -> bool:
        at = _utc(at, "at")
        day = at.astimezone(self.zone).date()
        window = self._window(day)
        return window is not None and window[0] <= at < window[1]

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself (in UTC) when the team is open then, else the next opening."""
        for start, _end in self._windows_from(_utc(at, "at")):
            return start
        raise AssertionError("unreachable: _windows_from never ends")  # pragma: no cover

    def add(self, start: datetime, hours: float) -> datetime:
        """The due time ``hours`` business hours after ``start`` (counted from the next opening)."""
        if not 0 <= hours < math.inf:
            raise ValueError(f"business hours to add must be finite and >= 0, got {hours}")
        remaining = timedelta(hours=hours)
        for window_start, window_end in self._windows_from(_utc(start, "start")):
            length = window_end - window_start
            if remaining <= length:
                return window_start + remaining
            remaining -= length
        raise AssertionError("unreachable: _windows_from never ends")  # pragma: no cover

    def diff(self, start: datetime, end: datetime) -> float:
        """Business hours between ``start`` and ``end``; 0 when ``end`` is not after ``start``."""
        start, end = _utc(start, "start"), _utc(end, "end")
        total = timedelta(0)
        if end <= start:
            return 0.0
        for window_start, window_end in self._windows_from(start):
            if window_start >= end:
                break
            total += min(window_end, end) - window_start
        return total / _HOUR

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's opening hours in UTC, or None when the team is closed all day."""
        if day.weekday() not in self.weekdays or self.is_holiday(day):
            return None
        opens = datetime.combine(day, self.opens, tzinfo=self.zone).astimezone(UTC)
        closes = datetime.combine(day, self.closes, tzinfo=self.zone).astimezone(UTC)
        return opens, closes

    def _windows_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals from ``at`` on, the first one cut at ``at``; one step per local day."""
        day = at.astimezone(self.zone).date()
        closed_days = 0
        while True:
            window = self._window(day)
            if window is not None and window[1] > at:
                closed_days = 0
                yield max(window[0], at), window[1]
            else:
                closed_days += 1
                if closed_days > _MAX_CLOSED_DAYS:
                    raise ConfigError(
                        f"the team calendar has no open hour in the {_MAX_CLOSED_DAYS} days "
                        f"before {day.isoformat()}; check its days and holidays",
                    )
            day += timedelta(days=1)


def _check_region(country: str, subdiv: str | None, where: str) -> None:
    """Fail at start-up, not at the first due time, when the holidays package cannot do it."""
    try:
        holiday_data.country_holidays(country, subdiv=subdiv)
    except NotImplementedError:
        pass
    else:
        return
    supported = holiday_data.list_supported_countries()
    if country not in supported:
        raise ConfigError(
            "unknown holiday country (the holidays package has no calendar for it)",
            key=f"{where}.holiday_country",
            expected="an ISO 3166-1 alpha-2 code in capitals, such as 'DE' or 'US'",
            found=country,
        )
    regions = supported[country]
    raise ConfigError(
        f"unknown region of holiday country {country}",
        key=f"{where}.holiday_subdiv",
        expected=f"one of {', '.join(regions)}" if regions else "no region (leave it unset)",
        found=subdiv,
    )
