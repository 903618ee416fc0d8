"""The demo's last chapter: the shared KPI report of the demo's own data, in the terminal and as
one HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from smarketing_sync.report.build import build_report
from smarketing_sync.report.costs import refresh_costs
from smarketing_sync.report.facts import load_facts
from smarketing_sync.report.kpis.months import month_of, months_between, shift
from smarketing_sync.report.options import ReportOptions
from smarketing_sync.report.render import render
from smarketing_sync.settings import ReportSettings

if TYPE_CHECKING:
    from smarketing_sync.demo import DemoWorld, Printer

#: What marketing spent on the seeded campaigns (spend is in no synced tool: a file).
CAMPAIGN_SPEND = {"C-WEB": 1200.0, "C-WEBINAR": 2500.0, "C-ADS": 4000.0}


def report_settings(data_dir: Path) -> ReportSettings:
    return ReportSettings(
        currency="EUR",
        rates={"USD": 0.92},
        margin=0.6,
        cohort_window_days=30,
        costs_file=data_dir / "campaign_costs.csv",
    )


def _write_costs(path: Path, months: list[str]) -> None:
    lines = ["campaign,month,amount,currency,channel"]
    for month in months:
        for campaign, amount in CAMPAIGN_SPEND.items():
            lines.append(f"{campaign},{month},{amount:.2f},EUR,{campaign.split('-')[1].lower()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def report_story(world: DemoWorld, out: Printer, data_dir: Path) -> Path:
    """Print the report of the last three months including this one; write the HTML page."""
    settings = world.settings
    zone = settings.sla.team(None).timezone
    as_of = world.store.now()
    current = month_of(as_of, ZoneInfo(zone))
    months = months_between(shift(current, -2), current)
    costs = settings.report.costs_file
    assert costs is not None
    _write_costs(costs, months)
    refresh_costs(world.store, settings.report)
    facts = load_facts(world.store, as_of, sla_touch_types=settings.sla.touch_types)
    options = ReportOptions.from_settings(
        settings.report, settings.sla, months=months, as_of=as_of, timezone=zone
    )
    report = build_report(facts, options)
    out.say(
        "\nThe shared KPI report of the demo data (`smarketing-sync report`; this month is "
        "included, so its numbers are still moving):\n"
    )
    out.say(render(report, "table", color=out.tty))
    page = data_dir / "report.html"
    page.write_text(render(report, "html"), encoding="utf-8")
    out.say(f"The same report as one self-contained page: {page.resolve()}")
    return page
