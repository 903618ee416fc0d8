"""Properties of scoring and lifecycle that must hold for any input (hypothesis)."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from smarketing_sync.scoring import Facts, evaluate, load_model, model_version, score
from smarketing_sync.scoring.model import RANK, EngagementRule

ROOT = Path(__file__).resolve().parents[2]
MODEL = load_model(ROOT / "scoring.toml")
NOW = 1_800_000_000.0
DAY = 86_400.0

POSITIVE = sorted(t for t, r in MODEL.engagement.items() if r.points > 0)
ANY_TYPE = sorted({*MODEL.engagement, "note", "task", "other"})

activity = st.tuples(st.sampled_from(ANY_TYPE), st.floats(-2, 400).map(lambda d: NOW - d * DAY))
values = st.fixed_dictionaries(
    {},
    optional={
        "email": st.sampled_from(["a@acme.de", "b@gmail.com", "c@rival.example", "d@firm.ch"]),
        "job_title": st.sampled_from(["Head of Growth", "VP Marketing", "Engineer", "", "CMO"]),
        "country": st.sampled_from(["DE", "US", "CH", None]),
        "company": st.sampled_from(["Acme", "", None]),
        "company_size": st.sampled_from(["40", "120", "800", "n/a", 250]),
        "lead_status": st.sampled_from(["NEW", "CONNECTED", "UNQUALIFIED", None]),
        "lifecycle": st.sampled_from(["subscriber", "lead", None]),
    },
)


@given(
    values,
    st.lists(activity, max_size=40),
    st.sampled_from(POSITIVE),
    st.floats(-2, 400),
    st.one_of(st.none(), st.floats(0, 500).map(lambda d: NOW - d * DAY)),
)
def test_adding_a_positive_event_never_lowers_the_score(
    fields: dict[str, Any],
    activities: list[tuple[str, float]],
    new_type: str,
    age_days: float,
    first_seen: float | None,
) -> None:
    before = score(MODEL, fields, activities, NOW, first_seen=first_seen)
    after = score(
        MODEL, fields, [*activities, (new_type, NOW - age_days * DAY)], NOW, first_seen=first_seen
    )
    assert after.fit + after.engagement >= before.fit + before.engagement - 1e-9
    assert after.value >= before.value


@given(st.floats(0.1, 365), st.floats(0.5, 100), st.floats(0, 1000))
def test_decay_halves_the_contribution_at_one_half_life(
    half_life: float, points: float, start: float
) -> None:
    rule = EngagementRule("meeting", "met", points, half_life, None, 10_000)
    model = dataclasses.replace(MODEL, engagement={"meeting": rule}, fit=(), inactivity=None)
    fresh = score(model, {}, [("meeting", NOW - start * DAY)], NOW).engagement
    later = score(model, {}, [("meeting", NOW - start * DAY)], NOW + half_life * DAY).engagement
    assert abs(later - fresh / 2) <= 1e-9 * max(1.0, fresh)


facts_step = st.tuples(
    values,
    st.lists(activity, max_size=8),
    st.booleans(),  # open deal
    st.booleans(),  # won deal
    st.floats(0, 60),  # days that pass before this step
)


def _run(model: Any, steps: list[Any]) -> list[tuple[str | None, str, str]]:
    """Feed a sequence of facts through the lifecycle; return (from, to, rule) per change."""
    stage: str | None = None
    since: float | None = None
    now = NOW
    moves = []
    for fields, activities, open_deal, won_deal, days in steps:
        now += days * DAY
        result = score(model, fields, activities, now)
        step = evaluate(model, stage, since, Facts(result, fields, open_deal, won_deal), now)
        if step is not None:
            moves.append((stage, step.stage, step.rule))
            stage, since = step.stage, now
    return moves


@settings(max_examples=150)
@given(st.lists(facts_step, min_size=1, max_size=12))
def test_stages_never_move_backwards_without_a_recycle_rule(steps: list[Any]) -> None:
    for model in (MODEL, dataclasses.replace(MODEL, lifecycle=dataclasses.replace(
        MODEL.lifecycle, recycle=()))):  # fmt: skip
        for before, after, rule in _run(model, steps):
            assert before != after
            if before in RANK and after in RANK:
                assert RANK[after] > RANK[before], (before, after, rule)
            if after == "recycled":
                assert rule.startswith("recycle.")
                assert model.lifecycle.recycle, "recycled without any recycle rule"


DATA = tomllib.loads((ROOT / "scoring.toml").read_text(encoding="utf-8"))


@given(st.data())
def test_a_model_change_bumps_the_version(data: st.DataObject) -> None:
    changed = copy.deepcopy(DATA)
    section = data.draw(st.sampled_from(["fit", "engagement", "mql"]))
    delta = data.draw(st.integers(1, 50))
    if section == "fit":
        rule = data.draw(st.sampled_from([r for r in changed["fit"] if "points" in r]))
        rule["points"] += delta
    elif section == "engagement":
        name = data.draw(
            st.sampled_from(sorted(k for k in changed["engagement"] if k != "defaults"))
        )
        changed["engagement"][name]["points"] += delta
    else:
        changed["lifecycle"]["mql"]["min_score"] -= delta
    assert model_version(changed) != model_version(DATA)
    assert model_version(copy.deepcopy(DATA)) == model_version(DATA) == MODEL.version
