"""What every KPI function reads: the facts, the options and what is derived from them once."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smarketing_sync.handoff.calendar import BusinessCalendar
from smarketing_sync.report.facts import Deal, Facts, Handoff
from smarketing_sync.report.kpis.milestones import Milestones, compute_milestones
from smarketing_sync.report.kpis.money import Converter
from smarketing_sync.report.kpis.months import bounds, month_of, shift
from smarketing_sync.report.options import ReportOptions

DAY_S = 86_400.0


@dataclass(slots=True)
class Context:
    facts: Facts
    options: ReportOptions
    tz: ZoneInfo
    milestones: dict[int, Milestones]
    money: Converter
    range_start: datetime
    range_end: datetime
    _calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    _next_handoff: dict[int, datetime | None] = field(default_factory=dict)
    # Month starts (POSIX seconds) and their labels: a month is one bisect, not a zone lookup.
    _starts: list[float] = field(default_factory=list)
    _labels: list[str] = field(default_factory=list)
    _by_month: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    @classmethod
    def build(cls, facts: Facts, options: ReportOptions) -> Context:
        tz = options.tz
        ctx = cls(
            facts=facts,
            options=options,
            tz=tz,
            milestones=compute_milestones(facts),
            money=Converter(options.currency, options.rates),
            range_start=bounds(options.months[0], tz)[0],
            range_end=bounds(options.months[-1], tz)[1],
        )
        label = "1970-01"
        for _ in range(12 * 131):  # 1970 … 2100
            ctx._starts.append(bounds(label, tz)[0].timestamp())
            ctx._labels.append(label)
            label = shift(label, 1)
        by_person: dict[int, list[Handoff]] = {}
        for h in facts.handoffs:  # sorted by handed_over_at
            by_person.setdefault(h.person_id, []).append(h)
        for handoffs in by_person.values():
            for h, after in zip(handoffs, [*handoffs[1:], None], strict=True):
                ctx._next_handoff[h.id] = None if after is None else after.handed_over_at
        return ctx

    @property
    def as_of(self) -> datetime:
        return self.facts.as_of

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.options.window_days)

    def month(self, at: datetime) -> str:
        index = bisect_right(self._starts, at.timestamp()) - 1
        if 0 <= index < len(self._labels) - 1:
            return self._labels[index]
        return month_of(at, self.tz)

    def by_month(self, kind: str) -> dict[str, list[Any]]:
        """Records grouped by the month of one of their times, computed once per kind:
        ``won``/``lost``/``created`` deals and ``handoffs``."""
        grouped = self._by_month.get(kind)
        if grouped is None:
            grouped = self._by_month[kind] = {}
            if kind == "handoffs":
                for h in self.facts.handoffs:
                    grouped.setdefault(self.month(h.handed_over_at), []).append(h)
            else:
                for d in self.facts.deals:
                    at = {"won": d.won_at if d.status == "won" else None,
                          "lost": d.lost_at if d.status == "lost" else None,
                          "created": d.created_at}[kind]  # fmt: skip
                    if at is not None:
                        grouped.setdefault(self.month(at), []).append(d)
        return grouped

    def in_range(self, at: datetime | None) -> bool:
        return at is not None and self.range_start <= at < self.range_end

    def source(self, person_id: int | None) -> str:
        person = None if person_id is None else self.facts.people.get(person_id)
        return "unknown" if person is None else person.source

    def deal_source(self, deal: Deal) -> str:
        return self.source(deal.person_id)

    def amount(self, deal: Deal) -> float | None:
        return self.money.convert(deal.amount, deal.currency)

    def next_handoff(self, handoff: Handoff) -> datetime | None:
        return self._next_handoff.get(handoff.id)

    def calendar(self, team: str | None) -> BusinessCalendar:
        name = team if team in self.options.sla.teams else self.options.sla.default_team
        if name not in self._calendars:
            self._calendars[name] = BusinessCalendar.from_settings(
                self.options.sla.team(name), where=f"sla.teams.{name}"
            )
        return self._calendars[name]


def days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / DAY_S
