"""The score stage on a real store: scores, stage history, revisions, and what is rescored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync.flow import score as score_stage
from smarketing_sync.flow.push import customer_values
from smarketing_sync.scoring import ScoringModel, load_model
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import activities, customers, deals, meta, scores, stage_history
from smarketing_sync.store.state import next_rev

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
STALE = timedelta(hours=24)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'store.db'}", now=clock)
    yield s
    s.dispose()


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    return load_model(ROOT / "scoring.toml")


def add_customer(store: Store, **golden: Any) -> int:
    with store.begin() as conn:
        key = conn.execute(
            customers.insert().values(
                email=golden.get("email"), golden=golden, provenance={}, rev=next_rev(conn),
                created_at=T0 - 10 * DAY, updated_at=T0,
            )
        ).inserted_primary_key  # fmt: skip
    assert key is not None
    return int(key[0])


_ext = iter(range(1, 1_000_000))


def add_activity(store: Store, cid: int, kind: str, at: datetime) -> None:
    with store.begin() as conn:
        conn.execute(
            activities.insert().values(
                connector="hubspot", external_id=str(next(_ext)), customer_id=cid,
                contact_ids=[], type=kind, occurred_at=at, updated_at=at, fields={},
                deleted=False,
            )
        )  # fmt: skip


def add_deal(store: Store, cid: int, status: str, at: datetime) -> None:
    with store.begin() as conn:
        conn.execute(
            deals.insert().values(
                connector="pipedrive", external_id=str(next(_ext)), customer_id=cid,
                contact_ids=[], status=status, created_at=at - DAY,
                won_at=at if status == "won" else None, updated_at=at, fields={}, deleted=False,
            )
        )  # fmt: skip


def set_golden(store: Store, cid: int, **changes: Any) -> None:
    with store.begin() as conn:
        golden = conn.execute(sa.select(customers.c.golden).where(customers.c.id == cid)).scalar()
        conn.execute(
            customers.update()
            .where(customers.c.id == cid)
            .values(golden={**golden, **changes}, rev=customers.c.rev + 100)
        )


def row(store: Store, cid: int) -> Any:
    with store.read() as conn:
        return conn.execute(
            sa.select(scores, customers.c.rev, customers.c.golden)
            .join(customers, customers.c.id == scores.c.customer_id)
            .where(scores.c.customer_id == cid)
        ).one()


def history(store: Store, cid: int) -> list[tuple[str | None, str, str]]:
    with store.read() as conn:
        rows = conn.execute(
            sa.select(stage_history.c.previous, stage_history.c.stage, stage_history.c.rule)
            .where(stage_history.c.customer_id == cid)
            .order_by(stage_history.c.id)
        )
        return [tuple(r) for r in rows]


ANA = {"email": "ana@acme.de", "job_title": "Head of Marketing", "company": "Acme", "country": "DE"}


def test_first_score_writes_score_stage_history_and_pushable_values(
    store: Store, model: ScoringModel
) -> None:
    cid = add_customer(store, **ANA)
    stats = score_stage.run(store, model, stale_after=STALE)
    assert (stats.scored, stats.changed, stats.stage_changes) == (1, 1, 1)
    r = row(store, cid)
    assert (r.fit, r.value, r.stage, r.model_version) == (35, 35, "lead", model.version)
    assert r.rev > 1  # a new revision: push planning will pick the person up
    pushed = customer_values(cid, r.golden)
    assert pushed["score.value"] == 35 and pushed["stage"] == "lead"
    assert pushed["score.band"] == r.band and pushed["score.reason"] == r.reason
    assert pushed["email"] == "ana@acme.de" and "_computed" not in pushed
    assert history(store, cid) == [(None, "lead", "lifecycle.lead")]


def test_nothing_changed_means_no_rescore_and_no_new_revision(
    store: Store, model: ScoringModel, clock: Clock
) -> None:
    cid = add_customer(store, **ANA)
    score_stage.run(store, model, stale_after=STALE)
    rev = row(store, cid).rev
    clock.now += timedelta(minutes=5)
    assert score_stage.run(store, model, stale_after=STALE).scored == 0
    assert row(store, cid).rev == rev


def test_activities_cross_the_mql_threshold_and_history_says_why(
    store: Store, model: ScoringModel, clock: Clock
) -> None:
    cid = add_customer(store, **ANA)
    score_stage.run(store, model, stale_after=STALE)
    clock.now += DAY
    add_activity(store, cid, "meeting", clock.now - timedelta(hours=1))
    stats = score_stage.run(store, model, stale_after=STALE)
    assert stats.scored == 1  # found through its activities, no revision involved
    assert row(store, cid).stage == "lead"  # 35 + ~20 = 55 < 60
    add_activity(store, cid, "email_click", clock.now)
    score_stage.run(store, model, stale_after=STALE)
    r = row(store, cid)
    assert r.stage == "mql" and r.value == 60
    assert r.stage_since == clock.now
    assert history(store, cid) == [
        (None, "lead", "lifecycle.lead"),
        ("lead", "mql", "lifecycle.mql"),
    ]
    with store.read() as conn:
        cause = conn.execute(
            sa.select(stage_history.c.cause).where(stage_history.c.stage == "mql")
        ).scalar()
    assert cause is not None and "score 60 ≥ 60" in cause and "met with us" in cause


def test_crm_facts_move_forward_with_their_own_dates_and_never_back(
    store: Store, model: ScoringModel, clock: Clock
) -> None:
    cid = add_customer(store, **ANA)
    score_stage.run(store, model, stale_after=STALE)
    add_deal(store, cid, "won", T0 - 2 * DAY)
    score_stage.run(store, model, stale_after=STALE)
    r = row(store, cid)
    assert r.stage == "customer"
    assert r.stage_since == T0  # the won date predates the lead entry: kept at entry time
    set_golden(store, cid, job_title="Intern", email="ana@gmail.com")
    clock.now += 100 * DAY
    score_stage.run(store, model, stale_after=STALE)
    assert row(store, cid).stage == "customer"
    assert [h[1] for h in history(store, cid)] == ["lead", "customer"]


def test_rejected_by_sales_recycles_then_new_engagement_requalifies(
    store: Store, model: ScoringModel, clock: Clock
) -> None:
    cid = add_customer(store, **ANA)
    for kind in ("meeting", "meeting", "call"):
        add_activity(store, cid, kind, T0 - timedelta(hours=2))
    score_stage.run(store, model, stale_after=STALE)
    assert row(store, cid).stage == "mql"
    clock.now += DAY
    set_golden(store, cid, lead_status="UNQUALIFIED")
    score_stage.run(store, model, stale_after=STALE)
    assert row(store, cid).stage == "recycled"
    set_golden(store, cid, lead_status="NEW")
    clock.now += DAY
    score_stage.run(store, model, stale_after=STALE)
    assert row(store, cid).stage == "recycled"  # still qualified by score, but no new engagement
    add_activity(store, cid, "form_submission", clock.now)
    score_stage.run(store, model, stale_after=STALE)
    assert [h[2] for h in history(store, cid)] == [
        "lifecycle.mql",
        "recycle.rejected_by_sales",
        "lifecycle.mql",
    ]


def test_decay_rescore_on_schedule(store: Store, model: ScoringModel, clock: Clock) -> None:
    cid = add_customer(store, **ANA)
    add_activity(store, cid, "meeting", T0)
    score_stage.run(store, model, stale_after=STALE)
    assert row(store, cid).value == 55
    clock.now += 60 * DAY  # one half-life of a meeting
    stats = score_stage.run(store, model, stale_after=STALE)
    assert stats.scored == 1  # stale: picked without any change
    assert row(store, cid).value == 45  # 35 + 10


def test_model_change_rescores_everyone(store: Store, model: ScoringModel, tmp_path: Path) -> None:
    ids = [add_customer(store, email=f"p{i}@acme.de") for i in range(5)]
    score_stage.run(store, model, stale_after=STALE)
    text = (
        (ROOT / "scoring.toml")
        .read_text(encoding="utf-8")
        .replace("points = 5\n", "points = 6\n", 1)
    )
    (tmp_path / "scoring.toml").write_text(text, encoding="utf-8")
    changed = load_model(tmp_path / "scoring.toml")
    assert changed.version != model.version
    assert score_stage.run(store, changed, stale_after=STALE).scored == len(ids)


def test_full_and_incremental_rescore_agree(store: Store, model: ScoringModel) -> None:
    ids = [add_customer(store, **{**ANA, "email": f"p{i}@acme.de"}) for i in range(30)]
    for i, cid in enumerate(ids):
        for _ in range(i % 4):
            add_activity(store, cid, "email_click", T0 - i * DAY)
    full = score_stage.rescore(store, model, chunk=7)
    assert full.scored == 30 and full.activities == sum(i % 4 for i in range(30))
    values = {cid: row(store, cid).value for cid in ids}
    with store.begin() as conn:
        conn.execute(scores.delete())
    score_stage.rescore(store, model, ids[::2] + ids[1::2], chunk=5)
    assert {cid: row(store, cid).value for cid in ids} == values
    with store.read() as conn:
        assert conn.execute(sa.select(meta.c.value).where(meta.c.key == "rev")).scalar() is not None
