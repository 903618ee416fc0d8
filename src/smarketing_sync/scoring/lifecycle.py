"""Lifecycle stages: where a person stands, and the one rule that moves them next.

The forward path is subscriber → lead → mql → sql → opportunity → customer. A stage never
moves backwards: the only ways off the path are ``recycled`` (an explicit recycle rule fired) and
``disqualified`` (a disqualifying fit rule matched). SQL, opportunity and customer are CRM facts
(an accepted lead status, an open deal, a won deal) and win over the score and over detours.
A person who enters further up (e.g. straight at sql) never gets an inferred MQL entry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smarketing_sync.scoring.compute import DAY_S, Score
from smarketing_sync.scoring.model import RANK, RecycleRule, ScoringModel, derived_values


@dataclass(frozen=True, slots=True)
class Facts:
    """What the lifecycle rules may look at for one person."""

    score: Score
    values: Mapping[str, Any]
    open_deal: bool
    won_deal: bool


@dataclass(frozen=True, slots=True)
class Transition:
    stage: str
    previous: str | None
    cause: str  # human words: why
    rule: str  # which rule fired, e.g. lifecycle.mql, deal.won, recycle.rejected_by_sales


def _target(model: ScoringModel, facts: Facts, values: Mapping[str, Any]) -> tuple[str, str, str]:
    """The stage the facts alone point at: (stage, rule, cause)."""
    life = model.lifecycle
    score = facts.score
    if facts.won_deal:
        return "customer", "deal.won", "a deal was won"
    if facts.open_deal:
        return "opportunity", "deal.open", "a deal is open"
    if life.sql is not None and life.sql.matches(values):
        return "sql", "lifecycle.sql", f"sales accepted the lead ({life.sql.describe()})"
    if score.disqualified_by is not None:
        return "disqualified", f"fit.{score.disqualified_by}", score.reason
    if score.value >= life.mql_min_score and score.fit >= life.mql_min_fit:
        fit_part = (
            f" and fit {score.fit:g} ≥ {life.mql_min_fit:g}" if life.mql_min_fit > -math.inf else ""
        )
        return (
            "mql",
            "lifecycle.mql",
            f"score {score.value} ≥ {life.mql_min_score:g}{fit_part}: {score.reason}",
        )
    if (
        life.subscriber is not None
        and life.subscriber.matches(values)
        and score.last_engaged_at is None
    ):
        return "subscriber", "lifecycle.subscriber", life.subscriber.describe()
    return "lead", "lifecycle.lead", "a known contact"


def _recycle_fires(
    rule: RecycleRule, facts: Facts, values: Mapping[str, Any], since: float | None, now: float
) -> bool:
    if rule.condition is not None:
        return rule.condition.matches(values)
    assert rule.inactive_days is not None
    # Counted from the later of the last engagement and the stage entry: a person is never
    # recycled for silence that happened before they reached the stage.
    reference = max(filter(None, (facts.score.last_engaged_at, since)), default=None)
    return reference is not None and now - reference > rule.inactive_days * DAY_S


def evaluate(
    model: ScoringModel, current: str | None, since: float | None, facts: Facts, now: float
) -> Transition | None:
    """The stage change the rules call for now, or None when the person stays where they are."""
    values = derived_values(facts.values)
    stage, rule, cause = _target(model, facts, values)
    if current is None:
        return Transition(stage, None, cause, rule)
    crm_fact = stage in RANK and RANK[stage] >= RANK["sql"]
    if current in RANK:
        if stage in RANK and RANK[stage] > RANK[current]:
            return Transition(stage, current, cause, rule)
        for recycle in model.lifecycle.recycle:
            if current in recycle.from_stages and _recycle_fires(
                recycle, facts, values, since, now
            ):
                return Transition("recycled", current, recycle.label, f"recycle.{recycle.name}")
        if stage == "disqualified" and RANK[current] < RANK["sql"]:
            return Transition(stage, current, cause, rule)
        return None
    if current == "recycled":
        if crm_fact or stage == "disqualified":
            return Transition(stage, current, cause, rule)
        engaged = facts.score.last_engaged_at
        # min(): an activity dated in the future (clock skew) must not requalify over and over
        if (
            stage == "mql"
            and engaged is not None
            and since is not None
            and min(engaged, now) > since
        ):
            return Transition(stage, current, f"engaged again after recycling; {cause}", rule)
        return None
    # disqualified: left for a CRM fact, or once no disqualifying rule matches any more
    if stage != "disqualified":
        reason = cause if crm_fact else f"no longer disqualified; {cause}"
        return Transition(stage, current, reason, rule)
    return None


def _date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def what_next(
    model: ScoringModel, current: str | None, since: float | None, facts: Facts, now: float
) -> list[str]:
    """Human lines: what would change this person's stage next."""
    life = model.lifecycle
    score = facts.score
    lines: list[str] = []
    rank = RANK.get(current or "", -1)
    if current == "recycled":
        lines.append(
            f"mql again after new engagement with score ≥ {life.mql_min_score:g} "
            f"(now {score.value})"
        )
    elif rank < RANK["mql"] and current != "disqualified":
        short = max(life.mql_min_score - score.value, 0)
        fit_note = (
            f", fit ≥ {life.mql_min_fit:g} (now {score.fit:g})"
            if life.mql_min_fit > -math.inf
            else ""
        )
        lines.append(
            f"mql at score ≥ {life.mql_min_score:g} (now {score.value}, {short:g} short){fit_note}"
        )
    if current == "disqualified" and score.disqualified_by:
        lines.append(
            f"leaves disqualified when fit rule {score.disqualified_by!r} no longer matches"
        )
    if life.sql is not None and rank < RANK["sql"]:
        lines.append(f"sql when {life.sql.describe()}")
    if rank < RANK["opportunity"]:
        lines.append("opportunity when a deal is open")
    if rank < RANK["customer"]:
        lines.append("customer when a deal is won")
    for recycle in life.recycle:
        if current not in recycle.from_stages:
            continue
        if recycle.condition is not None:
            lines.append(f"recycled ({recycle.label}) if {recycle.condition.describe()}")
        else:
            assert recycle.inactive_days is not None
            reference = max(filter(None, (score.last_engaged_at, since)), default=now)
            due = reference + recycle.inactive_days * DAY_S
            lines.append(f"recycled ({recycle.label}) if no engagement until {_date(due)}")
    return lines
