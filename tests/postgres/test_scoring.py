"""The score stage on PostgreSQL: JSON ``fields->>'done'``, ``extract(epoch …)`` and the
aggregates that find whom to rescore give the same scores as on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync.flow import score as score_stage
from smarketing_sync.scoring import ScoringModel, load_model
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import activities, customers, scores, stage_history
from smarketing_sync.store.state import next_rev

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
STALE = timedelta(hours=24)
ANA = {"email": "ana@acme.de", "job_title": "Head of Marketing", "company": "Acme", "country": "DE"}


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    return load_model(ROOT / "scoring.toml")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def add_customer(store: Store, email: str) -> int:
    with store.begin() as conn:
        return int(
            conn.execute(
                customers.insert()
                .values(email=email, golden={**ANA, "email": email}, provenance={},
                        rev=next_rev(conn), created_at=T0 - timedelta(days=10), updated_at=T0)
                .returning(customers.c.id)
            ).scalar_one()
        )  # fmt: skip


def add_activity(store: Store, cid: int, n: int, kind: str, fields: dict[str, Any]) -> None:
    at = T0 - timedelta(hours=n)
    with store.begin() as conn:
        conn.execute(
            activities.insert().values(
                connector="pipedrive", external_id=f"{cid}-{n}", customer_id=cid, contact_ids=[],
                type=kind, occurred_at=at, updated_at=at, fields=fields, deleted=False,
            )
        )  # fmt: skip


def story(store: Store, model: ScoringModel, clock: Clock) -> dict[str, Any]:
    """Two people, the same done meeting each; one also has three planned (done = false)
    meetings and calls that must not count. Returns what the store holds afterwards."""
    plain = add_customer(store, "plain@acme.de")
    planned = add_customer(store, "planned@acme.de")
    for cid in (plain, planned):
        add_activity(store, cid, 1, "meeting", {"owner": "2", "done": True})
    for n, kind in enumerate(("meeting", "meeting", "call"), start=2):
        add_activity(store, planned, n, kind, {"owner": "2", "done": False})
    first = score_stage.run(store, model, stale_after=STALE)
    clock.now += timedelta(minutes=5)
    second = score_stage.run(store, model, stale_after=STALE)
    # one more done call: found through the activity aggregates, not through a revision
    add_activity(store, planned, 9, "call", {"owner": "2"})
    third = score_stage.run(store, model, stale_after=STALE)
    with store.read() as conn:
        rows = {
            r.email: (r.value, r.band, r.stage, r.activity_count, r.activity_newest)
            for r in conn.execute(
                sa.select(customers.c.email, scores).join(
                    scores, scores.c.customer_id == customers.c.id
                )
            )
        }
        stages = [
            tuple(r)
            for r in conn.execute(
                sa.select(
                    stage_history.c.customer_id, stage_history.c.stage, stage_history.c.rule
                ).order_by(stage_history.c.id)
            )
        ]
    return {
        "plain": plain,
        "planned": planned,
        "runs": [(s.scored, s.changed, s.activities) for s in (first, second, third)],
        "rows": rows,
        "stages": stages,
    }


def test_planned_activities_do_not_count_and_postgres_equals_sqlite(
    pg_url: str, tmp_path: Path, model: ScoringModel
) -> None:
    results = {}
    for name, url in (("postgresql", pg_url), ("sqlite", f"sqlite:///{tmp_path / 's.db'}")):
        clock = Clock()
        store = Store.open(url, now=clock)
        try:
            results[name] = story(store, model, clock)
        finally:
            store.dispose()
    on_pg = results["postgresql"]
    rows = on_pg["rows"]
    # the planned ones are read (counted for "what changed") but add no engagement
    assert rows["planned@acme.de"][3] == 5 and rows["plain@acme.de"][3] == 1
    assert on_pg["runs"][0] == (2, 2, 2)  # activities: the engagement read, planned ones not
    assert on_pg["runs"][1] == (0, 0, 0)  # nothing changed: aware times compare equal
    assert on_pg["runs"][2] == (1, 1, 2)  # only the person with the new call
    assert rows["planned@acme.de"][0] > rows["plain@acme.de"][0]  # the done call counts
    assert rows["plain@acme.de"][4] == T0 - timedelta(hours=1)
    assert rows["plain@acme.de"][4].tzinfo is not None
    assert on_pg == results["sqlite"]


def test_planned_alone_scores_like_nothing(pg_url: str, model: ScoringModel) -> None:
    store = Store.open(pg_url, now=Clock())
    try:
        nothing = add_customer(store, "nothing@acme.de")
        planned = add_customer(store, "planned@acme.de")
        for n, kind in enumerate(("meeting", "meeting", "call", "meeting"), start=1):
            add_activity(store, planned, n, kind, {"done": False})
        assert score_stage.run(store, model, stale_after=STALE).scored == 2
        with store.read() as conn:
            values = dict(conn.execute(sa.select(scores.c.customer_id, scores.c.value)).all())
        assert values[planned] == values[nothing]
    finally:
        store.dispose()
