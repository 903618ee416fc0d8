"""Score: recompute scores, bands and lifecycle stages, and mark changed customers for push.

Runs after all pulls and before pushes. It rescores the customers a pull touched (a new
revision, or a change in their activities or deals), those never scored, and those whose
score is older than ``stale_after`` (so decay shows without any new event). Reads are set-based:
one query per table per chunk of customers, never one per customer. A customer whose score,
band, reason or stage changed gets a new revision, so push planning picks it up exactly like a
field change; an unchanged one produces no push.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from smarketing_sync.scoring.compute import Score, score
from smarketing_sync.scoring.inputs import Inputs, in_chunk, load_inputs
from smarketing_sync.scoring.lifecycle import Facts, Transition, evaluate
from smarketing_sync.scoring.model import GOLDEN_KEY, ScoringModel
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import activities, customers, deals, meta, scores, stage_history
from smarketing_sync.store.state import next_rev

log = structlog.get_logger("smarketing_sync.score")

CHUNK = 2000
SCORED_REV = "scored_rev"
#: The pushed number follows the exact score only once it is this far away: decay moving a score
#: across x.5 and back must not make a push each time.
HYSTERESIS = 0.6
#: Stage changes one evaluation may chain (e.g. none → mql → recycled); the rules never cycle
#: in fewer steps, this only bounds the loop.
MAX_STEPS = 4


@dataclass(slots=True)
class ScoreStats:
    scored: int = 0  # customers whose score was recomputed
    changed: int = 0  # customers whose pushable values changed (new revision)
    stage_changes: int = 0  # rows appended to the stage history
    revisions: int = 0  # customer revisions allocated
    activities: int = 0  # activities read
    seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__slots__}


def computed_values(golden: dict[str, Any]) -> dict[str, Any]:
    """The computed values last written for a customer (what push reads)."""
    value = golden.get(GOLDEN_KEY)
    return dict(value) if isinstance(value, dict) else {}


def _chunks(ids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def rescore(
    store: Store,
    model: ScoringModel,
    ids: Collection[int] | None = None,
    *,
    chunk: int = CHUNK,
) -> ScoreStats:
    """Rescore ``ids`` (None: every customer) in chunks, one transaction per chunk."""
    started = time.perf_counter()
    stats = ScoreStats()
    now = store.now()
    if ids is None:
        with store.read() as conn:
            wanted: list[int] = list(
                conn.execute(
                    sa.select(customers.c.id)
                    .where(customers.c.deleted_at.is_(None))
                    .order_by(customers.c.id)
                ).scalars()
            )
        dense = True
    else:
        wanted = sorted(set(ids))
        dense = False
    for part in _chunks(wanted, chunk):
        with store.begin() as conn:
            _score_chunk(conn, model, part, dense=dense, now=now, stats=stats)
    stats.seconds = time.perf_counter() - started
    return stats


def _entered_at(
    transition: Transition, inputs: Inputs, since: datetime | None, now: datetime
) -> datetime:
    """When the person entered the stage: the CRM fact's own time when it has one."""
    fact = {"customer": inputs.won_at, "opportunity": inputs.open_deal_at}.get(transition.stage)
    if fact is None or fact > now or (since is not None and fact < since):
        return now
    return fact


def _score_chunk(
    conn: Connection,
    model: ScoringModel,
    part: Sequence[int],
    *,
    dense: bool,
    now: datetime,
    stats: ScoreStats,
) -> None:
    people = conn.execute(
        sa.select(customers.c.id, customers.c.golden, customers.c.created_at).where(
            in_chunk(customers.c.id, part, dense), customers.c.deleted_at.is_(None)
        )
    ).all()
    if not people:
        return
    inputs = load_inputs(conn, part, dense)
    stats.activities += sum(len(e.activities) for e in inputs.values())
    current = {
        row.customer_id: row
        for row in conn.execute(
            sa.select(scores).where(in_chunk(scores.c.customer_id, part, dense))
        )
    }
    now_ts = now.timestamp()
    empty = Inputs([])
    score_inserts: list[dict[str, Any]] = []
    score_updates: list[dict[str, Any]] = []
    golden_updates: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for cid, golden, created_at in people:
        values = {k: v for k, v in golden.items() if k != GOLDEN_KEY}
        facts_in = inputs.get(cid, empty)
        result = score(
            model, values, facts_in.activities, now_ts, first_seen=created_at.timestamp()
        )
        old = current.get(cid)
        value = result.value
        if (
            old is not None
            and result.disqualified_by is None
            and abs(min(max(result.fit + result.engagement, 0.0), model.max_score) - old.value)
            < HYSTERESIS
        ):
            value = old.value
        stage, since = (old.stage, old.stage_since) if old is not None else (None, None)
        facts = Facts(result, values, facts_in.has_open, facts_in.has_won)
        # Settle in one go: a new person who qualifies but whom sales already rejected enters
        # mql and is recycled at once, instead of one step per cycle.
        for _ in range(MAX_STEPS):
            transition = evaluate(model, stage, since.timestamp() if since else None, facts, now_ts)
            if transition is None:
                break
            since = _entered_at(transition, facts_in, since, now)
            stage = transition.stage
            history.append(_history_row(cid, transition, since, value, model))
        assert stage is not None  # a person without a stage always gets a transition
        assert since is not None
        row = _score_row(result, value, stage, since, model, now)
        row.update(
            activity_count=facts_in.activity_count,
            activity_newest=facts_in.activity_newest,
            deal_count=facts_in.deal_count,
            deal_newest=facts_in.deal_newest,
        )
        if old is None:
            score_inserts.append({"customer_id": cid, **row})
        else:
            score_updates.append({"cid": cid, **row})
        pushable = {
            # the hand-off stage owns these computed values (flow/handoff.py): keep them
            **{k: v for k, v in computed_values(golden).items() if k.startswith("handoff.")},
            "score.value": value,
            "score.band": result.band,
            "score.reason": result.reason,
            "stage": stage,
        }
        if computed_values(golden) != pushable:
            golden_updates.append({"cid": cid, "golden": {**values, GOLDEN_KEY: pushable}})
    stats.scored += len(people)
    stats.stage_changes += len(history)
    stats.changed += len(golden_updates)
    if score_inserts:
        conn.execute(scores.insert(), score_inserts)
    if score_updates:
        conn.execute(
            scores.update().where(scores.c.customer_id == sa.bindparam("cid")), score_updates
        )
    if history:
        conn.execute(stage_history.insert(), history)
    if golden_updates:
        rev = next_rev(conn)
        stats.revisions += 1
        for item in golden_updates:
            item.update(rev=rev, updated_at=now)
        conn.execute(
            customers.update().where(customers.c.id == sa.bindparam("cid")), golden_updates
        )


def _score_row(
    result: Score, value: int, stage: str, since: datetime, model: ScoringModel, now: datetime
) -> dict[str, Any]:
    return {
        "value": value,
        "fit": result.fit,
        "engagement": result.engagement,
        "band": result.band,
        "reason": result.reason,
        "stage": stage,
        "stage_since": since,
        "model_version": model.version,
        "computed_at": now,
    }


def _history_row(
    cid: int, transition: Transition, at: datetime, value: int, model: ScoringModel
) -> dict[str, Any]:
    return {
        "customer_id": cid,
        "stage": transition.stage,
        "previous": transition.previous,
        "entered_at": at,
        "cause": transition.cause[:1000],
        "rule": transition.rule,
        "score": value,
        "model_version": model.version,
    }


# -- which customers to rescore ----------------------------------------------------------------


def due(store: Store, model: ScoringModel, *, stale_after: timedelta) -> tuple[set[int], int]:
    """Customers to rescore now, and the revision they were picked at.

    Picked: never scored; a revision newer than the last score stage (their fields changed);
    activities or deals that differ from what their score was computed from; a score older than
    ``stale_after`` or computed by another model version.
    """
    with store.read() as conn:
        row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "rev")).first()
        at_rev = int(row[0]) if row else 0
        row = conn.execute(sa.select(meta.c.value).where(meta.c.key == SCORED_REV)).first()
        scored_rev = int(row[0]) if row else 0
        stale_before = store.now() - stale_after
        picked: set[int] = set(
            conn.execute(
                sa.select(customers.c.id)
                .outerjoin(scores, scores.c.customer_id == customers.c.id)
                .where(
                    customers.c.deleted_at.is_(None),
                    sa.or_(
                        scores.c.customer_id.is_(None),
                        customers.c.rev > scored_rev,
                        scores.c.computed_at < stale_before,
                        scores.c.model_version != model.version,
                    ),
                )
            ).scalars()
        )
        for table, count, newest in (
            (activities, scores.c.activity_count, scores.c.activity_newest),
            (deals, scores.c.deal_count, scores.c.deal_newest),
        ):
            # Compared in the database: only the customers that differ come back.
            agg = (
                sa.select(
                    table.c.customer_id.label("cid"),
                    sa.func.count().label("n"),
                    sa.func.max(table.c.updated_at).label("newest"),
                )
                .where(table.c.customer_id.is_not(None))
                .group_by(table.c.customer_id)
                .subquery()
            )
            picked.update(
                conn.execute(
                    sa.select(agg.c.cid)
                    .join(scores, scores.c.customer_id == agg.c.cid)
                    .where(sa.or_(count != agg.c.n, newest.is_(None), newest != agg.c.newest))
                ).scalars()
            )
            picked.update(  # everything they had was deleted for good or moved to someone else
                conn.execute(
                    sa.select(scores.c.customer_id).where(
                        count > 0, ~sa.exists().where(table.c.customer_id == scores.c.customer_id)
                    )
                ).scalars()
            )
    return picked, at_rev


def run(
    store: Store, model: ScoringModel, *, stale_after: timedelta, full: bool = False
) -> ScoreStats:
    """The cycle's score stage: rescore whoever is due (``full``: everyone), then remember how
    far we got."""
    if full:
        with store.read() as conn:
            row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "rev")).first()
        at_rev = int(row[0]) if row else 0
        stats = rescore(store, model)
    else:
        picked, at_rev = due(store, model, stale_after=stale_after)
        stats = rescore(store, model, picked) if picked else ScoreStats()
    with store.begin() as conn:
        row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "rev")).first()
        now_rev = int(row[0]) if row else 0
        if now_rev - at_rev == stats.revisions:
            # Every revision since we looked is our own: nothing is left to score for them.
            at_rev = now_rev
        key = meta.c.key == SCORED_REV
        if conn.execute(sa.select(meta.c.key).where(key)).first() is None:
            conn.execute(meta.insert().values(key=SCORED_REV, value=at_rev))
        else:
            conn.execute(meta.update().where(key).values(value=at_rev))
    log.info("score.done", **stats.as_dict())
    return stats
