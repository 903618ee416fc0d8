"""Campaign costs: marketing spend per campaign and month, from a CSV or TOML file.

No synced tool holds marketing spend reliably, so it comes from ``[report] costs_file``:

- CSV with the header ``campaign,month,amount,currency[,channel]``;
- TOML with ``[[cost]]`` entries of the same keys.

Every problem is a ``ConfigError`` naming the file, the line (CSV) or entry (TOML), the field,
what was expected and what was found. ``refresh_costs`` replaces the store's table with the
file's rows in one transaction, so a report never sees half a file.
"""

from __future__ import annotations

import csv
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smarketing_sync.errors import ConfigError
from smarketing_sync.settings import ReportSettings
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import campaign_costs

REQUIRED = ("campaign", "month", "amount", "currency")
OPTIONAL = ("channel",)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


@dataclass(frozen=True, slots=True)
class CampaignCost:
    campaign: str
    month: str  # YYYY-MM
    amount: float
    currency: str  # ISO 4217, upper case
    channel: str | None = None


def load_costs(path: Path) -> list[CampaignCost]:
    """The costs in ``path`` (``.csv`` or ``.toml``), validated."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        entries = _csv_entries(path)
    elif suffix == ".toml":
        entries = _toml_entries(path)
    else:
        raise ConfigError(
            "unknown campaign costs format",
            file=str(path),
            expected="a .csv or .toml file",
            found=path.suffix or "(no extension)",
        )
    costs: list[CampaignCost] = []
    seen: dict[tuple[str, str], str] = {}
    for where, entry in entries:
        cost = _cost(path, where, entry)
        key = (cost.campaign, cost.month)
        if key in seen:
            raise ConfigError(
                f"campaign {cost.campaign!r} has a second cost for {cost.month} "
                f"(first at {seen[key]}); put one amount per campaign and month",
                file=str(path),
                key=f"{where}: campaign+month",
                expected="one row per campaign and month",
                found=f"{cost.campaign} {cost.month}",
            )
        seen[key] = where
        costs.append(cost)
    return costs


def _csv_entries(path: Path) -> Iterable[tuple[str, Mapping[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read campaign costs: {exc.strerror}", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("campaign costs are not UTF-8 text", file=str(path)) from exc
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        raise ConfigError(
            "campaign costs header is not as expected",
            file=str(path),
            key="line 1",
            expected="campaign,month,amount,currency[,channel]",
            found=",".join(header),
        )
    entries: list[tuple[str, Mapping[str, Any]]] = []
    for row in reader:
        if not any((v or "").strip() for k, v in row.items() if k is not None):
            continue  # a blank line
        where = f"line {reader.line_num}"
        if None in row:
            raise ConfigError(
                "more values than header columns",
                file=str(path),
                key=where,
                expected=f"{len(header)} values",
                found=len(header) + len(row[None]),
            )
        entries.append((where, {k.strip(): v for k, v in row.items() if k is not None}))
    return entries


def _toml_entries(path: Path) -> Iterable[tuple[str, Mapping[str, Any]]]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read campaign costs: {exc.strerror}", file=str(path)) from exc
    extra = sorted(k for k in data if k != "cost")
    if extra:
        raise ConfigError(
            "unknown top-level key in campaign costs",
            file=str(path),
            key=extra[0],
            expected="only [[cost]] entries",
        )
    entries = data.get("cost", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(
            "campaign costs must be a list of tables",
            file=str(path),
            key="cost",
            expected="[[cost]] entries",
            found=type(entries).__name__,
        )
    out: list[tuple[str, Mapping[str, Any]]] = []
    for i, entry in enumerate(entries, start=1):
        where = f"cost #{i}"
        unknown = sorted(k for k in entry if k not in REQUIRED + OPTIONAL)
        if unknown:
            raise ConfigError(
                "unknown key in campaign cost",
                file=str(path),
                key=f"{where}.{unknown[0]}",
                expected=", ".join(REQUIRED + OPTIONAL),
            )
        out.append((where, entry))
    return out


def _fail(path: Path, where: str, field: str, message: str, expected: str, found: Any) -> None:
    raise ConfigError(
        message, file=str(path), key=f"{where}.{field}", expected=expected, found=found
    )


def _cost(path: Path, where: str, entry: Mapping[str, Any]) -> CampaignCost:
    for name in REQUIRED:
        value = entry.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            _fail(path, where, name, f"{name} is missing", _EXPECTED[name], value)
    campaign = str(entry["campaign"]).strip()
    month = str(entry["month"]).strip()
    if not _MONTH.match(month):
        _fail(path, where, "month", "bad month", "YYYY-MM, e.g. 2026-03", entry["month"])
    amount = _amount(entry["amount"])
    if amount is None:
        _fail(path, where, "amount", "amount is not a number", "a number", entry["amount"])
    assert amount is not None
    if amount < 0:
        _fail(path, where, "amount", "negative amount", "zero or more", entry["amount"])
    currency = str(entry["currency"]).strip()
    if not _CURRENCY.match(currency):
        _fail(
            path,
            where,
            "currency",
            "bad currency code",
            "a 3-letter ISO 4217 code, e.g. EUR",
            entry["currency"],
        )
    channel = entry.get("channel")
    channel_text = str(channel).strip() if channel is not None else ""
    return CampaignCost(campaign, month, amount, currency.upper(), channel_text or None)


_EXPECTED = {
    "campaign": "a campaign name",
    "month": "YYYY-MM",
    "amount": "a number",
    "currency": "a 3-letter ISO 4217 code",
}


def _amount(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def refresh_costs(store: Store, report: ReportSettings) -> int:
    """Replace the stored campaign costs with the configured file's; returns the rows stored.

    Nothing happens (0) when no costs file is configured; a bad file raises ConfigError and
    leaves the stored costs as they were.
    """
    if report.costs_file is None:
        return 0
    costs = load_costs(report.costs_file)
    with store.begin() as conn:
        conn.execute(campaign_costs.delete())
        if costs:
            conn.execute(
                campaign_costs.insert(),
                [
                    {
                        "campaign": c.campaign,
                        "month": c.month,
                        "amount": c.amount,
                        "currency": c.currency,
                        "channel": c.channel,
                    }
                    for c in costs
                ],
            )
    return len(costs)
