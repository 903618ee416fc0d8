"""Attribution models on one deal (KPIS §2F A1)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smarketing_sync.report.facts import Deal, Facts, Person, Touch
from smarketing_sync.report.kpis.attribution import NO_TOUCH, credits
from smarketing_sync.report.kpis.context import Context
from smarketing_sync.report.options import ReportOptions


def at(day: int) -> datetime:
    return datetime(2025, 1, day, 10, tzinfo=UTC)


def context(touches: list[Touch], lead_day: int) -> tuple[Context, Deal]:
    person = Person(1, "a@example.com", "marketing", stages=[("lead", at(lead_day))])
    deal = Deal("d", 1, "won", 1000.0, "EUR", at(20), won_at=at(25))
    facts = Facts(at(28), {1: person}, [], [deal], {1: touches}, [])
    options = ReportOptions(months=["2025-01"], as_of=at(28), timezone="UTC")
    return Context.build(facts, options), deal


def test_w_shaped_gives_30_percent_per_milestone_and_10_to_the_rest() -> None:
    touches = [Touch(at(1), "page_view", "FT"), Touch(at(3), "form_submission", "LC"),
               Touch(at(5), "email_click", "MID1"), Touch(at(6), "event", "MID2"),
               Touch(at(10), "ad_click", "OC"), Touch(at(22), "page_view", "AFTER")]  # fmt: skip
    ctx, deal = context(touches, lead_day=3)
    shares = credits(ctx, deal, "w_shaped")
    # the touch after the deal's creation is outside the window
    assert shares == pytest.approx({"FT": 0.3, "LC": 0.3, "OC": 0.3, "MID1": 0.05, "MID2": 0.05})


def test_a_touch_that_is_two_milestones_gets_both_shares_scaled_to_100_percent() -> None:
    # FT = LC (day 1, lead on day 2), OC day 10, no other touch: 0.6 + 0.3 = 0.9 → scaled
    touches = [Touch(at(1), "page_view", "A"), Touch(at(10), "ad_click", "B")]
    ctx, deal = context(touches, lead_day=2)
    assert credits(ctx, deal, "w_shaped") == pytest.approx({"A": 2 / 3, "B": 1 / 3})
    assert credits(ctx, deal, "first") == {"A": 1.0}
    assert credits(ctx, deal, "last") == {"B": 1.0}
    assert credits(ctx, deal, "lead_creation") == {"A": 1.0}
    assert credits(ctx, deal, "linear") == pytest.approx({"A": 0.5, "B": 0.5})


def test_deals_without_touches_go_to_no_marketing_touch() -> None:
    ctx, deal = context([], lead_day=2)
    assert credits(ctx, deal, "w_shaped") == {NO_TOUCH: 1.0}
    # no touch at or before lead creation: the lead-creation model credits nobody
    ctx, deal = context([Touch(at(5), "page_view", "LATE")], lead_day=2)
    assert credits(ctx, deal, "lead_creation") == {NO_TOUCH: 1.0}
