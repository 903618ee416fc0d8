"""The default report of KPIS §4: sections a person reads, over the data of ``compute``."""

from __future__ import annotations

from smarketing_sync.report import sections_flow as flow
from smarketing_sync.report import sections_outcome as outcome
from smarketing_sync.report.compute import compute, finish
from smarketing_sync.report.facts import Facts
from smarketing_sync.report.kpis.context import Context
from smarketing_sync.report.model import Report, Section
from smarketing_sync.report.options import ReportOptions
from smarketing_sync.report.view import View


def build_report(facts: Facts, options: ReportOptions) -> Report:
    ctx = Context.build(facts, options)
    data = finish(compute(ctx))
    return Report(
        title=f"Shared KPI report {options.months[0]} – {options.months[-1]}",
        as_of=facts.as_of,
        months=list(options.months),
        timezone=options.timezone,
        currency=options.currency,
        attribution=options.model,
        sections=sections(View(data, options)),
        data=data,
    )


def sections(view: View) -> list[Section]:
    return [
        flow.headline(view),
        flow.funnel(view),
        flow.trend(view),
        flow.conversion(view),
        flow.velocity(view),
        outcome.sla(view),
        outcome.revenue(view),
        outcome.quality(view),
    ]
