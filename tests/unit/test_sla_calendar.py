"""The SLA business-hours clock: expected values worked out by hand from a wall calendar.

Offsets used below: Berlin is UTC+1 (CET) until 2025-03-30 and from 2025-10-26, UTC+2 (CEST)
in between; New York is UTC-4 (EDT) from 2025-03-09.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from smarketing_sync.errors import ConfigError
from smarketing_sync.handoff.calendar import BusinessCalendar
from smarketing_sync.settings import TeamCalendar

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def berlin(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


@pytest.fixture(scope="module")
def bavaria() -> BusinessCalendar:
    team = TeamCalendar(timezone="Europe/Berlin", holiday_country="DE", holiday_subdiv="BY")
    return BusinessCalendar.from_settings(team, where="sla.teams.sales")


@pytest.fixture(scope="module")
def new_york() -> BusinessCalendar:
    return BusinessCalendar.from_settings(TeamCalendar(timezone="America/New_York"))


def test_inside_and_outside_hours(bavaria: BusinessCalendar) -> None:
    assert bavaria.is_open(berlin(2025, 3, 12, 9, 0))  # opening time is open
    assert bavaria.is_open(berlin(2025, 3, 12, 16, 59, 59))
    assert not bavaria.is_open(berlin(2025, 3, 12, 17, 0))  # closing time is closed
    assert not bavaria.is_open(berlin(2025, 3, 12, 8, 59, 59))
    assert not bavaria.is_open(berlin(2025, 3, 15, 12, 0))  # Saturday
    assert not bavaria.is_open(berlin(2025, 1, 6, 12, 0))  # Epiphany in Bavaria


def test_overnight_runs_into_next_morning(bavaria: BusinessCalendar) -> None:
    # Tue 16:00 + 2 bh = 1 h Tuesday + 1 h Wednesday -> Wed 10:00 Berlin.
    assert bavaria.add(berlin(2025, 3, 11, 16, 0), 2) == utc(2025, 3, 12, 9, 0)
    assert bavaria.diff(berlin(2025, 3, 11, 16, 0), berlin(2025, 3, 12, 10, 0)) == 2.0


def test_friday_evening_start_counts_from_monday(bavaria: BusinessCalendar) -> None:
    # Fri 18:00 is closed; the clock starts Mon 09:00, + 1 h -> Mon 10:00 Berlin.
    assert bavaria.add(berlin(2025, 3, 14, 18, 0), 1) == utc(2025, 3, 17, 9, 0)
    assert bavaria.next_open(berlin(2025, 3, 14, 18, 0)) == utc(2025, 3, 17, 8, 0)


def test_start_outside_hours_starts_at_next_opening(bavaria: BusinessCalendar) -> None:
    early = berlin(2025, 3, 12, 6, 0)
    assert bavaria.next_open(early) == utc(2025, 3, 12, 8, 0)
    assert bavaria.add(early, 0) == utc(2025, 3, 12, 8, 0)
    assert bavaria.add(early, 1) == utc(2025, 3, 12, 9, 0)
    assert bavaria.diff(early, berlin(2025, 3, 12, 9, 30)) == 0.5


def test_open_instant_is_its_own_next_opening(bavaria: BusinessCalendar) -> None:
    at = berlin(2025, 3, 12, 11, 15)
    assert bavaria.next_open(at) == at
    assert bavaria.next_open(at).tzinfo is UTC
    assert bavaria.add(at, 0) == at


def test_due_time_on_closing_time_stays_there(bavaria: BusinessCalendar) -> None:
    assert bavaria.add(berlin(2025, 3, 12, 9, 0), 8) == utc(2025, 3, 12, 16, 0)  # 17:00 Berlin
    assert bavaria.add(berlin(2025, 3, 12, 9, 0), 8.5) == utc(2025, 3, 13, 8, 30)  # Thu 09:30


def test_epiphany_is_closed_in_bavaria_only(bavaria: BusinessCalendar) -> None:
    # Fri 2025-01-03 15:00 + 4 bh: 2 h Friday, weekend, Mon 6 Jan Epiphany, 2 h Tuesday.
    start = berlin(2025, 1, 3, 15, 0)
    assert bavaria.is_holiday(date(2025, 1, 6))
    assert bavaria.add(start, 4) == utc(2025, 1, 7, 10, 0)  # Tue 11:00 Berlin
    assert bavaria.diff(start, berlin(2025, 1, 7, 10, 0)) == 3.0

    berlin_state = BusinessCalendar(zone="Europe/Berlin", holiday_country="DE", holiday_subdiv="BE")
    assert not berlin_state.is_holiday(date(2025, 1, 6))
    assert berlin_state.add(start, 4) == utc(2025, 1, 6, 10, 0)  # Mon 11:00 Berlin
    assert berlin_state.diff(start, berlin(2025, 1, 7, 10, 0)) == 11.0


def test_christmas_and_configured_holidays() -> None:
    team = TeamCalendar(
        timezone="Europe/Berlin",
        holiday_country="DE",
        holiday_subdiv="BY",
        holidays=[date(2024, 12, 24), date(2024, 12, 31)],
    )
    calendar = BusinessCalendar.from_settings(team)
    # Mon 23 Dec 16:00 + 2 bh: 1 h Monday; 24th configured, 25th and 26th public; Fri 27th 10:00.
    assert calendar.add(berlin(2024, 12, 23, 16, 0), 2) == utc(2024, 12, 27, 9, 0)
    assert calendar.is_holiday(date(2024, 12, 31))
    assert not calendar.is_holiday(date(2024, 12, 30))
    # Fri 27th 16:00 + 10 bh: 1 h Fri, 8 h Mon 30th, 31st configured, 1 Jan public, Thu 2nd 10:00.
    assert calendar.add(berlin(2024, 12, 27, 16, 0), 10) == utc(2025, 1, 2, 9, 0)

    without_country = BusinessCalendar(zone="Europe/Berlin", holidays=[date(2024, 12, 24)])
    assert not without_country.is_holiday(date(2024, 12, 25))
    assert without_country.add(berlin(2024, 12, 23, 16, 0), 2) == utc(2024, 12, 25, 9, 0)


def test_same_instant_for_berlin_and_new_york_teams(
    bavaria: BusinessCalendar, new_york: BusinessCalendar
) -> None:
    instant = utc(2025, 3, 12, 8, 30)  # Wed: 09:30 in Berlin, 04:30 in New York
    assert bavaria.is_open(instant)
    assert not new_york.is_open(instant)
    assert bavaria.add(instant, 1) == utc(2025, 3, 12, 9, 30)
    assert new_york.next_open(instant) == utc(2025, 3, 12, 13, 0)  # 09:00 EDT
    assert new_york.add(instant, 1) == utc(2025, 3, 12, 14, 0)
    assert new_york.add(instant, 8) == utc(2025, 3, 12, 21, 0)  # 17:00 EDT, closing time
    # Berlin 17:00 is 16:00Z; New York is open 13:00Z-21:00Z: 3 h of overlap with Berlin's day.
    assert new_york.diff(utc(2025, 3, 12, 8, 0), utc(2025, 3, 12, 16, 0)) == 3.0
    assert bavaria.diff(utc(2025, 3, 12, 8, 0), utc(2025, 3, 12, 16, 0)) == 8.0


def test_spring_forward_weekend_keeps_wall_clock_hours(bavaria: BusinessCalendar) -> None:
    # EU clocks go forward on Sun 2025-03-30. Fri 16:00 CET + 2 bh -> Mon 10:00 CEST.
    assert bavaria.add(berlin(2025, 3, 28, 16, 0), 2) == utc(2025, 3, 31, 8, 0)
    # Fri 09:00 CET (08:00Z) to Mon 17:00 CEST (15:00Z): 79 h on the clock, 16 business hours.
    assert bavaria.diff(utc(2025, 3, 28, 8, 0), utc(2025, 3, 31, 15, 0)) == 16.0


def test_fall_back_weekend_keeps_wall_clock_hours(bavaria: BusinessCalendar) -> None:
    # EU clocks go back on Sun 2025-10-26. Fri 16:00 CEST + 2 bh -> Mon 10:00 CET.
    assert bavaria.add(berlin(2025, 10, 24, 16, 0), 2) == utc(2025, 10, 27, 9, 0)


def test_a_day_open_across_the_switch_is_still_eight_hours() -> None:
    every_day = BusinessCalendar(
        zone="Europe/Berlin", days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    )
    # Sun 2025-03-30 is a 23-hour day, but 09:00-17:00 CEST is 07:00Z-15:00Z.
    assert every_day.diff(utc(2025, 3, 29, 0, 0), utc(2025, 3, 31, 0, 0)) == 16.0
    assert every_day.add(utc(2025, 3, 30, 0, 0), 8) == utc(2025, 3, 30, 15, 0)
    # Sat 16:00 CET + 2 bh -> Sun 10:00 CEST.
    assert every_day.add(berlin(2025, 3, 29, 16, 0), 2) == utc(2025, 3, 30, 8, 0)


def test_diff_is_zero_when_end_is_not_after_start(bavaria: BusinessCalendar) -> None:
    at = berlin(2025, 3, 12, 12, 0)
    assert bavaria.diff(at, at) == 0.0
    assert bavaria.diff(at, at - timedelta(hours=3)) == 0.0
    assert bavaria.diff(berlin(2025, 3, 15, 10, 0), berlin(2025, 3, 16, 10, 0)) == 0.0  # weekend


def test_a_thousand_hours_steps_by_day_not_by_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = BusinessCalendar(zone="UTC")
    days_looked_at = 0
    window = BusinessCalendar._window

    def counting(self: BusinessCalendar, day: date) -> tuple[datetime, datetime] | None:
        nonlocal days_looked_at
        days_looked_at += 1
        return window(self, day)

    monkeypatch.setattr(BusinessCalendar, "_window", counting)
    # 1,000 h = 125 working days = 25 weeks: Mon 6 Jan 09:00 -> Fri 27 Jun 17:00 (closing time).
    assert plain.add(utc(2025, 1, 6, 9, 0), 1000) == utc(2025, 6, 27, 17, 0)
    assert days_looked_at == 173  # 6 Jan .. 27 Jun, one look per calendar day


def test_custom_hours_and_days() -> None:
    team = TeamCalendar(timezone="Asia/Kolkata", days=["sun", "mon"], opens=time(10, 30))
    calendar = BusinessCalendar.from_settings(team)
    # Kolkata is UTC+05:30. Mon 2025-03-10 16:30 IST + 2 bh: 30 min Monday, then Sun 16 Mar.
    assert calendar.add(utc(2025, 3, 10, 11, 0), 2) == utc(2025, 3, 16, 6, 30)  # Sun 12:00 IST


def test_naive_datetimes_and_negative_hours_are_refused(bavaria: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        bavaria.is_open(utc(2025, 3, 12, 10, 0).replace(tzinfo=None))
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        bavaria.diff(utc(2025, 3, 12, 10, 0).replace(tzinfo=None), utc(2025, 3, 12, 12, 0))
    with pytest.raises(ValueError, match="finite and >= 0, got -1"):
        bavaria.add(utc(2025, 3, 12, 10, 0), -1)
    with pytest.raises(ValueError, match="got nan"):
        bavaria.add(utc(2025, 3, 12, 10, 0), float("nan"))


def test_unknown_zone_is_a_config_error() -> None:
    team = TeamCalendar.model_construct(**{**TeamCalendar().model_dump(), "timezone": "Mars/Base"})
    with pytest.raises(ConfigError, match=r"\[sla.teams.mars.timezone\].*'Mars/Base'"):
        BusinessCalendar.from_settings(team, where="sla.teams.mars")


def test_unknown_holiday_country_is_a_config_error() -> None:
    team = TeamCalendar(holiday_country="XX")
    with pytest.raises(ConfigError) as caught:
        BusinessCalendar.from_settings(team, where="sla.teams.sales")
    assert caught.value.key == "sla.teams.sales.holiday_country"
    assert "'XX'" in str(caught.value) and "ISO 3166-1" in str(caught.value)


def test_unknown_region_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        BusinessCalendar(holiday_country="DE", holiday_subdiv="by", where="sla.teams.sales")
    assert caught.value.key == "sla.teams.sales.holiday_subdiv"
    assert "'by'" in str(caught.value) and "BY" in str(caught.value)


def test_impossible_opening_hours_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"\.closes\].*after opens=17:00"):
        BusinessCalendar(opens=time(17, 0), closes=time(9, 0))
    with pytest.raises(ConfigError, match=r"\.days\]"):
        BusinessCalendar(days=[])
    with pytest.raises(ConfigError, match="every-day"):
        BusinessCalendar(days=["every-day"])


def test_a_calendar_that_is_never_open_says_so() -> None:
    year = [date(2025, 1, 1) + timedelta(days=n) for n in range(400)]
    closed = BusinessCalendar(holidays=year)
    with pytest.raises(ConfigError, match="no open hour"):
        closed.add(utc(2025, 1, 1), 1)


# --- properties --------------------------------------------------------------------------------

CALENDARS = {
    "bavaria": BusinessCalendar(zone="Europe/Berlin", holiday_country="DE", holiday_subdiv="BY"),
    "new_york": BusinessCalendar(
        zone="America/New_York", holiday_country="US", holiday_subdiv="NY"
    ),
    "weekend_shift": BusinessCalendar(
        zone="Australia/Sydney", days=["sat", "sun"], opens=time(6, 15), closes=time(23, 45)
    ),
}
# hypothesis takes naive bounds and attaches the zone itself.
instants = st.datetimes(
    min_value=utc(2024, 1, 1).replace(tzinfo=None),
    max_value=utc(2026, 12, 31).replace(tzinfo=None),
    timezones=st.just(UTC),
)
hours = st.floats(min_value=0, max_value=1000, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(CALENDARS)), start=instants, amount=hours)
def test_diff_is_the_inverse_of_add(name: str, start: datetime, amount: float) -> None:
    calendar = CALENDARS[name]
    due = calendar.add(start, amount)
    assert due >= start
    assert calendar.diff(start, due) == pytest.approx(amount, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(CALENDARS)),
    start=instants,
    span=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
    into_hours=st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=30)),
)
def test_add_comes_back_to_an_open_end(
    name: str, start: datetime, span: timedelta, into_hours: timedelta
) -> None:
    calendar = CALENDARS[name]
    end = calendar.next_open(start + span) + into_hours
    # An opening instant is excluded: its business-hour count equals the previous closing
    # time's, and add() answers with the earlier of the two (a due time stays at closing).
    assume(calendar.is_open(end) and calendar.is_open(end - timedelta(microseconds=1)))
    due = calendar.add(start, calendar.diff(start, end))
    assert abs(due - end) <= timedelta(microseconds=1)  # float hours round to the microsecond


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(CALENDARS)), points=st.lists(instants, min_size=3, max_size=3))
def test_diff_adds_up_over_consecutive_spans(name: str, points: list[datetime]) -> None:
    calendar = CALENDARS[name]
    a, b, c = sorted(points)
    assert calendar.diff(a, c) == pytest.approx(calendar.diff(a, b) + calendar.diff(b, c), abs=1e-9)
