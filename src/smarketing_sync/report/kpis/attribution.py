"""A1 attributed revenue, A2 campaign ROI, A3 cost per lead/MQL/customer (KPIS §1.7, §2F).

A deal's touches are its primary person's marketing touches from the first one up to the deal's
creation (Marketo's "before opportunity created"). Milestones: FT first touch, LC the last touch
at or before ``t_lead``, OC the last touch at or before ``created_at``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smarketing_sync.report.facts import Deal, Touch
from smarketing_sync.report.kpis.context import Context
from smarketing_sync.report.kpis.money import Money
from smarketing_sync.report.kpis.revenue import roi

NO_TOUCH = "(no marketing touch)"
NO_CAMPAIGN = "(no campaign)"
MODEL_NAMES = {
    "first": "first touch",
    "lead_creation": "lead creation touch",
    "last": "last touch (opportunity creation)",
    "linear": "linear",
    "w_shaped": "W-shaped (30/30/30, 10 over the rest)",
}


def deal_touches(ctx: Context, deal: Deal) -> list[Touch]:
    end = deal.created_at or deal.won_at
    if deal.person_id is None or end is None:
        return []
    return [t for t in ctx.facts.touches.get(deal.person_id, []) if t.at <= end]


def credits(ctx: Context, deal: Deal, model: str) -> dict[str, float]:
    """Campaign → share of the deal (shares sum to 1; no touch: all to NO_TOUCH)."""
    touches = deal_touches(ctx, deal)
    if not touches:
        return {NO_TOUCH: 1.0}
    m = None if deal.person_id is None else ctx.milestones.get(deal.person_id)
    lead_at = None if m is None else m.lead
    lc = max((i for i, t in enumerate(touches) if lead_at and t.at <= lead_at), default=None)
    ft, oc = 0, len(touches) - 1
    weights: dict[int, float] = {}
    if model == "first":
        weights = {ft: 1.0}
    elif model == "last":
        weights = {oc: 1.0}
    elif model == "lead_creation":
        weights = {} if lc is None else {lc: 1.0}
    elif model == "linear":
        weights = dict.fromkeys(range(len(touches)), 1.0)
    else:  # w_shaped: a touch that is two milestones gets both shares
        for index in (ft, lc, oc):
            if index is not None:
                weights[index] = weights.get(index, 0.0) + 0.3
        others = [i for i in range(len(touches)) if i not in weights]
        for i in others:
            weights[i] = 0.1 / len(others)
    total = sum(weights.values())
    if not total:
        return {NO_TOUCH: 1.0}
    out: dict[str, float] = {}
    for i, weight in weights.items():
        name = touches[i].campaign or NO_CAMPAIGN
        out[name] = out.get(name, 0.0) + weight / total  # scaled to 100 % (KPIS A1)
    return out


def acquisition_campaign(ctx: Context, person_id: int) -> str | None:
    """A3: the campaign of the person's first touch, if it came at or before ``t_lead``."""
    m = ctx.milestones.get(person_id)
    touches = ctx.facts.touches.get(person_id)
    if m is None or m.lead is None or not touches or touches[0].at > m.lead:
        return None
    return touches[0].campaign or NO_CAMPAIGN


@dataclass(slots=True)
class CampaignRow:
    campaign: str
    channel: str | None = None
    cost: Money = field(default_factory=Money)
    revenue: float = 0.0
    unconverted: dict[str, float] = field(default_factory=dict)
    deals: dict[str, float] = field(default_factory=dict)  # deal id → share
    leads: list[int] = field(default_factory=list)
    mqls: list[int] = field(default_factory=list)
    customers: list[int] = field(default_factory=list)

    def roi(self, margin: float | None) -> float | None:
        return roi(self.revenue, self.cost.total, margin)


def campaign_table(ctx: Context, model: str) -> dict[str, CampaignRow]:
    """Per campaign, lifetime up to ``as_of``: cost, acquired people, attributed revenue."""
    rows: dict[str, CampaignRow] = {}

    def row(name: str) -> CampaignRow:
        return rows.setdefault(name, CampaignRow(name))

    for c in ctx.facts.costs:
        r = row(c.campaign)
        r.channel = r.channel or c.channel
        value = ctx.money.convert(c.amount, c.currency)
        r.cost.count += 1
        if value is None:
            r.cost.unconverted[c.currency] = r.cost.unconverted.get(c.currency, 0.0) + c.amount
        else:
            r.cost.total += value
    for pid, m in ctx.milestones.items():
        if m.lead is None:
            continue
        name = acquisition_campaign(ctx, pid)
        if name is None:
            continue
        r = row(name)
        r.leads.append(pid)
        if m.mql is not None:
            r.mqls.append(pid)
        if m.customer is not None:
            r.customers.append(pid)
    for deal in ctx.facts.deals:
        if deal.status != "won":
            continue
        amount = ctx.amount(deal)
        for name, share in credits(ctx, deal, model).items():
            r = row(name)
            r.deals[deal.id] = share
            if amount is None:
                code = (deal.currency or "?").upper()
                r.unconverted[code] = r.unconverted.get(code, 0.0) + (deal.amount or 0.0) * share
            else:
                r.revenue += amount * share
    return rows
