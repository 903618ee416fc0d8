"""A realistic scoring file against expectations computed by hand (arithmetic written out)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from smarketing_sync.scoring import Facts, ScoringModel, evaluate, load_model, score, what_next

DAY = 86_400.0
NOW = datetime(2026, 11, 1, tzinfo=UTC).timestamp()

REALISTIC = """
format = 1
max_score = 100

[[fit]]
name = "senior"
label = "senior title"
field = "job_title"
regex = '\\b(head of|vp|director)\\b'
points = 15

[[fit]]
name = "size"
label = "company of 50-500"
field = "company_size"
min = 50
max = 500
points = 10

[[fit]]
name = "dach"
label = "based in DACH"
field = "country"
in = ["DE", "AT", "CH"]
points = 5

[[fit]]
name = "free_mail"
label = "free-mail address"
field = "email_domain"
in = ["gmail.com"]
points = -10

[[fit]]
name = "competitor"
label = "competitor"
field = "email_domain"
equals = "rival.example"
disqualify = true

[engagement.email_click]
label = "clicked an email"
points = 5
half_life_days = 10
cap = 12
cap_period_days = 30

[engagement.meeting]
label = "had a meeting"
points = 20
half_life_days = 20

[engagement.page_view]
label = "viewed a page"
points = 2
cap = 6
cap_period_days = 7

[engagement.unsubscribe]
label = "unsubscribed"
points = -20

[inactivity]
after_days = 30
points = -10
label = "no engagement for 30 days"

[bands]
default = "D"
[bands.A]
fit_min = 20
engagement_min = 30
[bands.B]
fit_min = 20
engagement_max = 30
[bands.C]
fit_max = 20
engagement_min = 30

[lifecycle.mql]
min_score = 50
min_fit = 15

[lifecycle.sql]
field = "lead_status"
in = ["CONNECTED"]
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ScoringModel:
    path = tmp_path_factory.mktemp("scoring") / "realistic.toml"
    path.write_text(REALISTIC, encoding="utf-8")
    return load_model(Path(path))


def ago(days: float) -> float:
    return NOW - days * DAY


def test_ana_engaged_senior_dach_lead_is_an_mql(model: ScoringModel) -> None:
    values = {
        "email": "ana@acme.de",
        "job_title": "Head of Marketing",
        "company_size": "120",
        "country": "DE",
    }
    activities = [
        ("email_click", ago(0)),  # 5
        ("email_click", ago(10)),  # 5 × 0.5 = 2.5
        ("email_click", ago(20)),  # 5 × 0.25 = 1.25  -> 8.75, under the cap of 12
        ("meeting", ago(20)),  # 20 × 0.5 = 10
        *[("page_view", ago(d)) for d in (1, 2, 3, 4)],  # 4 × 2 = 8, capped at 6 in days 0-7
        ("page_view", ago(8)),  # next 7-day period: 2
        ("note", ago(1)),  # not in the model: 0
    ]
    result = score(model, values, activities, NOW, first_seen=ago(100))
    assert result.fit == 30  # 15 + 10 + 5
    assert result.engagement == pytest.approx(26.75)  # 8.75 + 10 + 6 + 2
    assert result.value == 57  # round(56.75)
    assert result.band == "B"  # fit >= 20, engagement < 30
    # 15 senior; then 10 and 10, ordered by label
    assert result.reason == "senior title, company of 50-500, had a meeting"
    step = evaluate(model, None, None, Facts(result, values, False, False), NOW)
    assert step is not None
    assert (step.stage, step.rule) == ("mql", "lifecycle.mql")
    assert step.cause.startswith("score 57 ≥ 50 and fit 30 ≥ 15")


def test_bob_free_mail_and_silent_is_a_lead_at_zero(model: ScoringModel) -> None:
    values = {"email": "bob@gmail.com", "job_title": "Engineer", "country": "US"}
    result = score(model, values, [], NOW, first_seen=ago(40))
    assert result.fit == -10
    assert result.engagement == -10  # no engagement for 40 > 30 days
    assert result.value == 0  # -20 kept within 0..100
    assert result.band == "D"
    assert result.reason == (
        "nothing positive yet; held back by free-mail address, no engagement for 30 days"
    )
    step = evaluate(model, None, None, Facts(result, values, False, False), NOW)
    assert step is not None and step.stage == "lead"


def test_cara_competitor_is_disqualified(model: ScoringModel) -> None:
    values = {"email": "cara@rival.example", "job_title": "VP Sales", "country": "CH"}
    result = score(model, values, [("meeting", ago(1))], NOW)
    assert result.disqualified_by == "competitor"
    assert (result.value, result.band, result.reason) == (0, "D", "disqualified: competitor")
    step = evaluate(model, None, None, Facts(result, values, False, False), NOW)
    assert step is not None and (step.stage, step.rule) == ("disqualified", "fit.competitor")


def test_dan_unsubscribed_clicker(model: ScoringModel) -> None:
    values = {"email": "dan@firm.at", "job_title": "VP Sales", "country": "AT"}
    activities = [
        *[("email_click", ago(1))] * 5,  # 5 × 5 × 0.5^(1/10) = 23.33, capped at 12
        ("meeting", ago(40)),  # 20 × 0.5^2 = 5
        ("unsubscribe", ago(100)),  # -20, no decay
    ]
    result = score(model, values, activities, NOW)
    assert result.fit == 20
    assert result.engagement == pytest.approx(-3)  # 12 + 5 - 20
    assert result.value == 17
    assert result.band == "B"
    # 15 senior, 12 clicks, then 5 (DACH) and 5 (meeting) tie and go by label
    assert result.reason == (
        "senior title, 5× clicked an email, based in DACH; held back by unsubscribed"
    )


def test_sales_accepted_lead_enters_at_sql_without_an_inferred_mql(model: ScoringModel) -> None:
    values = {"email": "eve@x.example", "lead_status": "connected"}
    result = score(model, values, [], NOW)
    step = evaluate(model, None, None, Facts(result, values, False, False), NOW)
    assert step is not None and (step.stage, step.previous) == ("sql", None)


def test_explain_detail_lists_each_activity_with_its_decay(model: ScoringModel) -> None:
    values = {"email": "ana@acme.de"}
    result = score(
        model, values, [("email_click", ago(10)), ("meeting", ago(20))], NOW, detail=True
    )
    lines = [(c.rule, c.points, c.decay) for c in result.contributions if c.kind == "engagement"]
    assert lines == [("email_click", 2.5, 0.5), ("meeting", 10.0, 0.5)]
    nxt = what_next(model, "lead", ago(5), Facts(result, values, False, False), NOW)
    assert nxt[0] == "mql at score ≥ 50 (now 13, 37 short), fit ≥ 15 (now 0)"
