"""``report --explain KPI [--month M]``: the hand-offs, people and deals behind a figure.

Every list is drawn with the same selectors the KPI itself uses (kpis/), so the rows add up to
the figure: count the rows, or sum the amount column.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from smarketing_sync.errors import ConfigError
from smarketing_sync.report.facts import Deal, Facts, Handoff
from smarketing_sync.report.kpis import attribution, funnel, revenue, sla, velocity
from smarketing_sync.report.kpis.context import Context, days
from smarketing_sync.report.kpis.milestones import STEPS
from smarketing_sync.report.model import Report, Section, Table
from smarketing_sync.report.options import ReportOptions

Rows = tuple[list[str], list[list[Any]]]


def explain(facts: Facts, options: ReportOptions, kpi: str, month: str | None = None) -> Report:
    ctx = Context.build(facts, options)
    months = [month] if month else list(options.months)
    handler = _HANDLERS.get(kpi)
    if handler is None:
        raise ConfigError(
            f"--explain: no record list for KPI {kpi!r}",
            expected="one of " + ", ".join(sorted(_HANDLERS)),
            found=kpi,
        )
    columns, rows = handler(_Explainer(ctx), months)
    scope = month or f"{options.months[0]} – {options.months[-1]}"
    table = Table(
        f"explain_{kpi}",
        f"{kpi} · {scope}",
        columns,
        rows,
        notes=[f"{len(rows)} rows; times in {options.timezone}"],
    )
    return Report(
        title=f"What is behind {kpi} ({scope})",
        as_of=facts.as_of,
        months=months,
        timezone=options.timezone,
        currency=options.currency,
        attribution=options.model,
        sections=[Section("explain", f"{kpi} · {scope}", tables=[table])],
        data={"kpi": kpi, "months": months, "columns": columns, "rows": rows},
    )


class _Explainer:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def when(self, at: datetime | None) -> str:
        return "" if at is None else at.astimezone(self.ctx.tz).strftime("%Y-%m-%d %H:%M")

    def email(self, person_id: int | None) -> str:
        person = None if person_id is None else self.ctx.facts.people.get(person_id)
        return "" if person is None or person.email is None else person.email

    def amount(self, deal: Deal) -> Any:
        value = self.ctx.amount(deal)
        return "no rate" if value is None else round(value, 2)

    def handoffs(self, months: list[str]) -> list[Handoff]:
        return [h for m in months for h in funnel.handoffs_in(self.ctx, m)]

    def handoff_rows(self, months: list[str]) -> Rows:
        columns = [
            "hand-off",
            "person",
            "email",
            "handed over",
            "owner",
            "decision",
            "decided",
            "reason",
            "outcome",
        ]
        return columns, [
            [
                h.id,
                h.person_id,
                self.email(h.person_id),
                self.when(h.handed_over_at),
                h.owner_id or "",
                h.decision or "pending",
                self.when(h.decided_at),
                h.reason or "",
                h.outcome or "",
            ]
            for h in self.handoffs(months)
        ]

    def conversion_rows(self, months: list[str]) -> Rows:
        columns = [
            "hand-off",
            "person",
            "email",
            "handed over",
            "mature",
            "customer at",
            f"within {self.ctx.options.window_days} d",
        ]
        rows = []
        for h in self.handoffs(months):
            at = funnel.handoff_step_time(self.ctx, h, "customer")
            rows.append(
                [
                    h.id,
                    h.person_id,
                    self.email(h.person_id),
                    self.when(h.handed_over_at),
                    "yes" if h.handed_over_at + self.ctx.window <= self.ctx.as_of else "no",
                    self.when(at),
                    "yes" if at and at <= h.handed_over_at + self.ctx.window else "no",
                ]
            )
        return columns, rows

    def deal_rows(self, deals: list[Deal], when: Callable[[Deal], datetime | None]) -> Rows:
        columns = [
            "deal",
            "person",
            "email",
            "source",
            "date",
            "status",
            "amount",
            "currency",
            f"in {self.ctx.options.currency}",
            "lead before win",
            "marketing touch before win",
        ]
        leads = {d.id for d in revenue.won_from_leads(self.ctx, deals)}
        touched = {d.id for d in revenue.influenced(self.ctx, deals)}
        return columns, [
            [
                d.id,
                d.person_id or "",
                self.email(d.person_id),
                self.ctx.deal_source(d),
                self.when(when(d)),
                d.status,
                d.amount,
                d.currency or self.ctx.options.currency,
                self.amount(d),
                "yes" if d.id in leads else "no",
                "yes" if d.id in touched else "no",
            ]
            for d in deals
        ]

    def won(self, months: list[str]) -> Rows:
        return self.deal_rows(
            [d for m in months for d in revenue.won_in(self.ctx, m)], lambda d: d.won_at
        )

    def closed(self, months: list[str]) -> Rows:
        deals = [
            d for m in months for d in revenue.won_in(self.ctx, m) + revenue.lost_in(self.ctx, m)
        ]
        return self.deal_rows(deals, lambda d: d.won_at or d.lost_at)

    def created(self, months: list[str]) -> Rows:
        deals = [d for m in months for d in revenue.created_in(self.ctx, m)]
        return self.deal_rows(deals, lambda d: d.created_at)

    def open_deals(self, _months: list[str]) -> Rows:
        return self.deal_rows(revenue.open_pipeline(self.ctx), lambda d: d.created_at)

    def volume(self, months: list[str]) -> Rows:
        wanted = set(months)
        rows = []
        for pid, m in self.ctx.milestones.items():
            for step in STEPS:
                at = m.at(step)
                if at is not None and self.ctx.month(at) in wanted:
                    rows.append(
                        [
                            pid,
                            self.email(pid),
                            self.ctx.source(pid),
                            step,
                            self.when(at),
                            "inferred" if step in m.inferred else "",
                        ]
                    )
        rows.sort(key=lambda r: (r[4], r[0]))
        return ["person", "email", "source", "milestone", "date", "how"], rows

    def km(self, start: str, end: str) -> Rows:
        result = velocity.time_to_convert(self.ctx, start, end)
        rows = []
        for pid in result.members:
            m = self.ctx.milestones[pid]
            begin, done = m.at(start), m.at(end)
            assert begin is not None
            span = days(begin, done if done is not None else self.ctx.as_of)
            rows.append(
                [
                    pid,
                    self.email(pid),
                    self.ctx.source(pid),
                    self.when(begin),
                    self.when(done) or "open (censored at as_of)",
                    round(max(span, 0.0), 2),
                ]
            )
        return ["person", "email", "source", start, end, "days"], rows

    def sla_rows(self, months: list[str]) -> Rows:
        columns = [
            "hand-off",
            "person",
            "email",
            "owner",
            "clock",
            "handed over",
            "due",
            "stopped",
            "business hours",
            "evaluable",
            "met",
        ]
        return columns, [
            [
                c.handoff.id,
                c.handoff.person_id,
                self.email(c.handoff.person_id),
                c.handoff.owner_id or "",
                c.clock,
                self.when(c.handoff.handed_over_at),
                self.when(c.due),
                self.when(c.stopped_at),
                "" if c.business_hours is None else round(c.business_hours, 2),
                "yes" if c.evaluable else "pending",
                "yes" if c.met else "no",
            ]
            for c in sla.clocks(self.ctx, self.handoffs(months))
        ]

    def open_breaches(self, _months: list[str]) -> Rows:
        columns = ["hand-off", "person", "email", "owner", "clock", "due", "overdue (bh)"]
        return columns, [
            [
                c.handoff.id,
                c.handoff.person_id,
                self.email(c.handoff.person_id),
                c.handoff.owner_id or "",
                c.clock,
                self.when(c.due),
                round(c.overdue_bh or 0.0, 2),
            ]
            for c in sla.clocks(self.ctx, self.ctx.facts.handoffs)
            if c.open_breach
        ]

    def roi(self, months: list[str]) -> Rows:
        columns = [
            "kind",
            "id",
            "person / campaign",
            "month",
            "source",
            "amount",
            "currency",
            f"in {self.ctx.options.currency}",
        ]
        rows: list[list[Any]] = []
        for m in months:
            for d in revenue.by_source(self.ctx, revenue.won_in(self.ctx, m))["marketing"]:
                rows.append(
                    [
                        "won deal",
                        d.id,
                        self.email(d.person_id) or d.person_id,
                        m,
                        "marketing",
                        d.amount,
                        d.currency,
                        self.amount(d),
                    ]
                )
            for d in revenue.by_source(self.ctx, revenue.created_in(self.ctx, m))["marketing"]:
                rows.append(
                    [
                        "created deal",
                        d.id,
                        self.email(d.person_id) or d.person_id,
                        m,
                        "marketing",
                        d.amount,
                        d.currency,
                        self.amount(d),
                    ]
                )
        for c in self.ctx.facts.costs:
            if c.month in months:
                value = self.ctx.money.convert(c.amount, c.currency)
                rows.append(
                    [
                        "cost",
                        c.campaign,
                        c.campaign,
                        c.month,
                        c.channel or "",
                        c.amount,
                        c.currency,
                        "no rate" if value is None else round(value, 2),
                    ]
                )
        return columns, rows

    def attributed(self, _months: list[str]) -> Rows:
        model = self.ctx.options.model
        rows = []
        for d in self.ctx.facts.deals:
            if d.status != "won":
                continue
            value = self.ctx.amount(d)
            for campaign, share in sorted(attribution.credits(self.ctx, d, model).items()):
                rows.append(
                    [
                        d.id,
                        self.email(d.person_id),
                        self.when(d.won_at),
                        campaign,
                        round(share, 4),
                        "no rate" if value is None else round(value * share, 2),
                    ]
                )
        return ["deal", "email", "won", "campaign", f"share ({model})", "credited"], rows

    def acceptance(self, months: list[str]) -> Rows:
        columns, rows = self.handoff_rows(months)
        return columns, [r for r in rows if r[5] != "pending"]

    def first_visit(self, months: list[str]) -> Rows:
        rows = []
        for m in months:
            for d in revenue.won_in(self.ctx, m):
                person = None if d.person_id is None else self.ctx.facts.people.get(d.person_id)
                seen = None if person is None else person.first_seen
                rows.append(
                    [
                        d.id,
                        self.email(d.person_id),
                        self.when(seen),
                        self.when(d.won_at),
                        "" if seen is None or d.won_at is None else round(days(seen, d.won_at), 2),
                    ]
                )
        return ["deal", "email", "first seen", "won", "days"], rows


_HANDLERS: dict[str, Callable[[_Explainer, list[str]], Rows]] = {
    "handoffs": _Explainer.handoff_rows,
    "handoffs_unique_people": _Explainer.handoff_rows,
    "handoff_to_customer_rate": _Explainer.conversion_rows,
    "stage_conversion": _Explainer.conversion_rows,
    "stage_volume": _Explainer.volume,
    "won_revenue_total": _Explainer.won,
    "won_revenue_from_leads": _Explainer.won,
    "won_revenue_by_source": _Explainer.won,
    "influenced_revenue": _Explainer.won,
    "avg_won_deal": _Explainer.won,
    "marketing_sourced_share": _Explainer.won,
    "win_rate": _Explainer.closed,
    "pipeline_created": _Explainer.created,
    "open_pipeline": _Explainer.open_deals,
    "lead_to_customer_time": lambda e, _m: e.km("lead", "customer"),
    "mql_to_sql_time": lambda e, _m: e.km("mql", "sql"),
    "sla_compliance": _Explainer.sla_rows,
    "sla_decision_met_rate": _Explainer.sla_rows,
    "sla_first_touch_met_rate": _Explainer.sla_rows,
    "sla_breaches": _Explainer.sla_rows,
    "sla_open_breaches": _Explainer.open_breaches,
    "acceptance_rate": _Explainer.acceptance,
    "rejection_reasons": _Explainer.acceptance,
    "marketing_roi": _Explainer.roi,
    "pipeline_to_spend": _Explainer.roi,
    "program_cac": _Explainer.roi,
    "attributed_revenue": _Explainer.attributed,
    "campaign_roi": _Explainer.attributed,
    "first_visit_to_purchase": _Explainer.first_visit,
}
