"""Month buckets in the reporting time zone (KPIS §1.3): ``[M]`` is half-open, local midnight to
local midnight, so an event at 23:30 UTC on 31 January is a February event in Berlin."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from smarketing_sync.errors import ConfigError

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str, *, what: str = "month") -> str:
    """Validate ``YYYY-MM``; the error names the flag and the expected form."""
    if not _MONTH.match(text):
        raise ConfigError(f"{what}: expected a month as YYYY-MM (e.g. 2025-01), found {text!r}")
    return text


def month_of(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{local.year:04d}-{local.month:02d}"


def shift(month: str, by: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + (mon - 1) + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """First instant of the month and of the next one, as UTC."""
    year, mon = int(month[:4]), int(month[5:7])
    nxt = shift(month, 1)
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(int(nxt[:4]), int(nxt[5:7]), 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def months_between(first: str, last: str) -> list[str]:
    if last < first:
        raise ConfigError(f"report range: --to {last} is before --from {first}")
    out = [first]
    while out[-1] != last:
        out.append(shift(out[-1], 1))
    return out


def default_range(as_of: datetime, tz: ZoneInfo, count: int = 3) -> list[str]:
    """The last ``count`` full months before the month that contains ``as_of``."""
    current = month_of(as_of, tz)
    return months_between(shift(current, -count), shift(current, -1))


def is_full(month: str, as_of: datetime, tz: ZoneInfo) -> bool:
    return bounds(month, tz)[1] <= as_of
