"""``smarketing-sync report``: options from flags and settings, facts from the store, one render."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smarketing_sync.errors import ConfigError
from smarketing_sync.report.build import build_report
from smarketing_sync.report.costs import refresh_costs
from smarketing_sync.report.explain import explain
from smarketing_sync.report.facts import Facts, facts_from_file, load_facts
from smarketing_sync.report.kpis.months import default_range, months_between, parse_month
from smarketing_sync.report.options import ReportOptions, settings_from_config
from smarketing_sync.report.render import render
from smarketing_sync.settings import Settings
from smarketing_sync.store.db import Store


def parse_as_of(text: str | None, tz: ZoneInfo) -> datetime:
    """``--as-of``: a date (end of that day in the report zone) or a date-time (zone: report's)."""
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            "--as-of is not a date or time",
            expected="ISO 8601, e.g. 2025-03-01 or 2025-03-01T09:00:00+01:00",
            found=text,
        ) from None
    if len(text) == 10:  # a bare date means the whole of that day
        at = at.replace(hour=23, minute=59, second=59, microsecond=999999)
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    return at.astimezone(UTC)


def options_from_args(settings: Settings, args: argparse.Namespace) -> ReportOptions:
    zone = args.timezone or settings.report.timezone or settings.sla.team(None).timezone
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            "unknown reporting time zone", key="--timezone", expected="an IANA name", found=zone
        ) from None
    as_of = parse_as_of(args.as_of, tz)
    if args.from_month or args.to_month:
        first = parse_month(args.from_month or args.to_month, what="--from")
        last = parse_month(args.to_month or args.from_month, what="--to")
        months = months_between(first, last)
    else:
        months = default_range(as_of, tz)
    return ReportOptions.from_settings(
        settings.report,
        settings.sla,
        months=months,
        as_of=as_of,
        timezone=zone,
        model=args.model,
    )


def run_report_on_file(settings: Settings, args: argparse.Namespace) -> int:
    """``report --facts FILE``: the same report from a facts file (an independent fixture, a
    snapshot); the file's ``config`` (range, report, sla) wins over config.toml, flags over
    both, and its ``as_of`` is the default."""
    facts = facts_from_file(args.facts)
    config = facts.config
    if "report" in config or "sla" in config:
        report_settings, sla = settings_from_config(config)
        settings = settings.model_copy(update={"report": report_settings, "sla": sla})
    span = config.get("range") or {}
    if args.from_month is None and args.to_month is None and span:
        args.from_month, args.to_month = span.get("from"), span.get("to")
    if args.as_of is None:
        args.as_of = facts.as_of.isoformat()
    options = options_from_args(settings, args)
    return _render(facts, options, args)


def run_report(settings: Settings, store: Store, args: argparse.Namespace) -> int:
    options = options_from_args(settings, args)
    if settings.report.costs_file is not None:
        refresh_costs(store, settings.report)
    facts = load_facts(store, options.as_of, sla_touch_types=settings.sla.touch_types)
    return _render(facts, options, args)


def _render(facts: Facts, options: ReportOptions, args: argparse.Namespace) -> int:
    if args.month is not None:
        parse_month(args.month, what="--month")
        if not args.explain:
            raise ConfigError("--month only works with --explain KPI")
    if args.explain:
        report = explain(facts, options, args.explain, args.month)
    else:
        report = build_report(facts, options)
    text = render(report, args.fmt, color=args.fmt == "table" and sys.stdout.isatty())
    output: Path | None = args.output
    if args.fmt == "html" and output is None:
        output = Path.cwd() / "report.html"
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"report written to {output.resolve()}")
    return 0
