"""Score one customer: fit from their fields, engagement from their activities, then the band.

Times are epoch seconds (floats) here: the full rescore feeds a million activities through
this loop, and float arithmetic is what keeps it within its time budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smarketing_sync.scoring.model import EngagementRule, ScoringModel, derived_values

DAY_S = 86_400.0
REASON_MAX = 250  # Pipedrive text fields hold 255 characters
REASON_ITEMS = 3


@dataclass(frozen=True, slots=True)
class Contribution:
    """One reason behind the number: a fit rule, an activity (type) or the inactivity signal."""

    kind: str  # fit | disqualify | engagement | inactivity
    rule: str  # fit rule name, activity type, or "inactivity"
    label: str
    points: float  # what it adds to the score, after decay and cap
    base: float  # points before decay and cap
    decay: float  # decay factor applied (1.0: none)
    at: float | None = None  # the activity's time (epoch seconds)
    count: int = 1  # activities summed into this line


@dataclass(frozen=True, slots=True)
class Score:
    fit: float
    engagement: float
    value: int  # fit + engagement, within 0..max_score, rounded: what the tools show
    band: str
    reason: str
    disqualified_by: str | None  # name of the fit rule that disqualified the person
    last_engaged_at: float | None  # newest activity of an engaging type
    contributions: tuple[Contribution, ...]


def decay_factor(age_days: float, half_life_days: float) -> float:
    """Share of an activity's points left after ``age_days``; halves every half-life."""
    if half_life_days <= 0:
        return 1.0
    return float(0.5 ** (max(age_days, 0.0) / half_life_days))


def score(
    model: ScoringModel,
    values: Mapping[str, Any],
    activities: Sequence[tuple[str, float]],
    now: float,
    *,
    first_seen: float | None = None,
    detail: bool = False,
) -> Score:
    """Score a customer from their field values and their (type, occurred_at) activities.

    ``first_seen`` starts the inactivity clock for people without activity. ``detail`` lists
    every activity separately (for ``explain``) instead of one line per activity type.
    """
    contributions: list[Contribution] = []
    fit, disqualified_by = _fit(model, values, contributions)
    engagement, last_engaged = _engagement(model, activities, now, contributions, detail)
    inactivity = model.inactivity
    if inactivity is not None:
        reference = max(filter(None, (last_engaged, first_seen)), default=None)
        if reference is None or now - reference > inactivity.after_days * DAY_S:
            engagement += inactivity.points
            contributions.append(
                Contribution(
                    "inactivity", "inactivity", inactivity.label, inactivity.points,
                    inactivity.points, 1.0, reference,
                )
            )  # fmt: skip
    if disqualified_by is not None:
        value, band = 0, model.default_band
    else:
        total = min(max(fit + engagement, 0.0), model.max_score)
        value, band = math.floor(total + 0.5), model.band(fit, engagement)
    return Score(
        fit=fit,
        engagement=engagement,
        value=value,
        band=band,
        reason=reason(contributions, disqualified_by),
        disqualified_by=disqualified_by,
        last_engaged_at=last_engaged,
        contributions=tuple(contributions),
    )


def _fit(
    model: ScoringModel, values: Mapping[str, Any], out: list[Contribution]
) -> tuple[float, str | None]:
    if not model.fit:
        return 0.0, None
    fields = derived_values(values)
    fit = 0.0
    disqualified_by: str | None = None
    for rule in model.fit:
        if not rule.condition.matches(fields):
            continue
        if rule.disqualify:
            disqualified_by = disqualified_by or rule.name
            out.append(Contribution("disqualify", rule.name, rule.label, 0.0, 0.0, 1.0))
        else:
            fit += rule.points
            out.append(Contribution("fit", rule.name, rule.label, rule.points, rule.points, 1.0))
    return fit, disqualified_by


def _engagement(
    model: ScoringModel,
    activities: Sequence[tuple[str, float]],
    now: float,
    out: list[Contribution],
    detail: bool,
) -> tuple[float, float | None]:
    rules = model.engagement
    params = _params(rules)
    # (type, period) -> decayed points; the cap applies per type and period to this sum, so a
    # further positive activity can only raise it (never push a fresher one out of the cap).
    sums: dict[tuple[str, int], float] = {}
    counts: dict[str, int] = {}
    last_engaged: float | None = None
    for activity_type, at in activities:
        param = params.get(activity_type)
        if param is None:
            continue
        points, halvings_per_s, period_s = param
        age = now - at
        if age < 0:
            age = 0.0  # dated in the future (clock skew): counts as now
        key = (activity_type, int(age // period_s))
        added = points * 0.5 ** (age * halvings_per_s) if halvings_per_s else points
        sums[key] = sums.get(key, 0.0) + added
        if added >= 0.5 or added <= -0.5:  # reasons count what still matters, not faded events
            counts[activity_type] = counts.get(activity_type, 0) + 1
        if points > 0 and (last_engaged is None or at > last_engaged):
            last_engaged = at
    engagement = 0.0
    by_type: dict[str, float] = {}
    scale: dict[tuple[str, int], float] = {}
    for key, total in sums.items():
        cap = rules[key[0]].cap
        capped = total if cap is None else max(-cap, min(cap, total))
        scale[key] = capped / total if total else 1.0
        engagement += capped
        by_type[key[0]] = by_type.get(key[0], 0.0) + capped
    if detail:
        for activity_type, at in sorted(activities, key=lambda a: -a[1]):
            rule = rules.get(activity_type)
            if rule is None:
                continue
            age = max((now - at) / DAY_S, 0.0)
            factor = decay_factor(age, rule.half_life_days)
            share = scale[(activity_type, int(age // rule.cap_period_days))]
            points = rule.points * factor
            out.append(
                Contribution(
                    "engagement", activity_type, rule.label, points * share, rule.points,
                    factor, at, 1 if abs(points) >= 0.5 else 0,
                )
            )  # fmt: skip
    else:
        for activity_type, points in by_type.items():
            rule = rules[activity_type]
            out.append(
                Contribution(
                    "engagement", activity_type, rule.label, points, rule.points,
                    points / (rule.points * counts[activity_type])
                    if rule.points and counts.get(activity_type) else 1.0,
                    None, counts.get(activity_type, 0),
                )
            )  # fmt: skip
    return engagement, last_engaged


_PARAMS: dict[int, tuple[Mapping[str, EngagementRule], dict[str, tuple[float, float, float]]]] = {}


def _params(rules: Mapping[str, EngagementRule]) -> dict[str, tuple[float, float, float]]:
    """Per activity type: (points, half-lives per second, cap period in seconds), computed once
    per model: the inner loop runs once per activity."""
    cached = _PARAMS.get(id(rules))
    if cached is None or cached[0] is not rules:  # the rules object is held: its id stays unique
        params = {
            name: (
                rule.points,
                1 / (rule.half_life_days * DAY_S) if rule.half_life_days > 0 else 0.0,
                rule.cap_period_days * DAY_S,
            )
            for name, rule in rules.items()
        }
        cached = _PARAMS[id(rules)] = (rules, params)
    return cached[1]


def reason(contributions: Sequence[Contribution], disqualified_by: str | None) -> str:
    """A short human reason: the strongest contributions, e.g. "3× email click, senior title"."""
    if disqualified_by is not None:
        label = next(c.label for c in contributions if c.rule == disqualified_by)
        return f"disqualified: {label}"[:REASON_MAX]
    grouped: dict[tuple[str, str], tuple[float, int]] = {}
    for c in contributions:
        points, count = grouped.get((c.kind, c.label), (0.0, 0))
        grouped[(c.kind, c.label)] = (points + c.points, count + c.count)
    ranked = sorted(
        ((points, count, kind, label) for (kind, label), (points, count) in grouped.items()),
        key=lambda item: (-item[0], item[3]),
    )
    parts = [
        f"{count}× {label}" if kind == "engagement" and count > 1 else label
        for points, count, kind, label in ranked
        if points >= 0.5
    ][:REASON_ITEMS]
    against = [label for points, _, _, label in sorted(ranked) if points <= -0.5][:2]
    text = ", ".join(parts) if parts else "nothing positive yet"
    if against:
        text += "; held back by " + ", ".join(against)
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"
