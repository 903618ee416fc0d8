"""A whole sync with hand-off on PostgreSQL, against both sandboxes: MQLs are handed over,
one accepted, one rejected with a reason, one left alone until its breach alert goes out once;
the store then holds the same kinds of rows as the SQLite run of tests/integration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from integration.harness import World, world
from integration.test_handoff_flow import handoff_of, handoff_settings, lead_of, make_mqls

from smarketing_sync.store.schema import (
    activities,
    customers,
    handoff_events,
    handoffs,
    links,
    person_sources,
    scores,
    sla_alerts,
    stage_history,
)
from smarketing_sync.testing.sandbox import SandboxServer
from smarketing_sync.testing.webhooks import WebhookReceiver

pytestmark = pytest.mark.slow


@contextmanager
def handoff_world(
    tmp_path: Path, store_url: str
) -> Iterator[tuple[World, WebhookReceiver, list[timedelta]]]:
    receiver = WebhookReceiver()
    with SandboxServer(receiver.app()) as hooks:
        extra = {**handoff_settings(hooks.url), "store": {"url": store_url}}
        with world(tmp_path, people=40, extra=extra) as w:
            shift = [timedelta(0)]  # the store's clock runs ahead by an offset we control
            real_now = w.store.now
            w.store.now = lambda: real_now() + shift[0]
            yield w, receiver, shift


async def _scenario(w: World, receiver: WebhookReceiver, clock: list[timedelta]) -> None:
    accepted, rejected, untouched = await make_mqls(w, 3)
    assert len(w.crm.leads()) == 3  # type: ignore[attr-defined]
    for email in (accepted, rejected, untouched):
        row = handoff_of(w, email)
        assert (row.state, row.create_status) == ("handed_over", "done"), row.last_error
    await w.cycle()  # a re-run creates nothing twice
    assert len(w.crm.leads()) == 3  # type: ignore[attr-defined]

    w.crm.label_lead(lead_of(w, accepted)["id"], "Accepted")  # type: ignore[attr-defined]
    rejected_lead = lead_of(w, rejected)["id"]
    w.crm.label_lead(rejected_lead, "No budget")  # type: ignore[attr-defined]
    w.crm.archive_lead(rejected_lead)  # type: ignore[attr-defined]
    await w.cycle()
    assert handoff_of(w, accepted).state == "accepted"
    after = handoff_of(w, rejected)
    assert (after.state, after.reason) == ("recycled", "No budget")
    await w.cycle()
    in_ma = w.ma.person_by_email(rejected)
    assert in_ma is not None
    assert in_ma["fields"]["smarketing_handoff_reason"] == "No budget"
    assert in_ma["fields"]["smarketing_stage"] == "recycled"
    assert receiver.received == []

    clock[0] += timedelta(days=4)
    await w.cycle()
    await w.cycle()
    decision = [a for a in receiver.bodies("/alerts") if a["clock"] == "decision"]
    assert len(decision) == 1 and decision[0]["customer"]["email"] == untouched
    assert decision[0]["event"] == "sla.breach"
    assert decision[0]["idempotency_key"].startswith(f"sla-alert:{decision[0]['id']}:")
    chat = receiver.bodies("/chat/T000/B000/secretpath")
    # decision and first touch breached: one message per clock in each target, no more
    mine = [a["clock"] for a in receiver.bodies("/alerts") if a["customer"]["email"] == untouched]
    assert sorted(mine) == ["decision", "first_touch"]
    assert sum(untouched in body["text"] for body in chat) == 2
    assert not any(a["customer"]["email"] == rejected for a in receiver.bodies("/alerts"))


def _kinds(w: World) -> dict[str, object]:
    """What the store holds, by kind: comparable between two runs on different databases."""
    with w.store.read() as conn:

        def counted(*columns: sa.ColumnElement[object]) -> dict[object, int]:
            query = sa.select(*columns, sa.func.count()).group_by(*columns)
            return {tuple(row[:-1]): row[-1] for row in conn.execute(query)}

        return {
            "customers": conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar(),
            "links": counted(links.c.connector),
            "activities": counted(activities.c.connector, activities.c.type),
            "stages": counted(scores.c.stage),
            "stage_history": counted(stage_history.c.previous, stage_history.c.stage),
            "handoff_states": counted(handoffs.c.state),
            "events": counted(handoff_events.c.state),
            "alerts": counted(sla_alerts.c.clock, sla_alerts.c.level, sla_alerts.c.status),
            "sources": counted(person_sources.c.source, person_sources.c.rule),
        }


async def test_handoff_flow_on_postgres_matches_sqlite(pg_url: str, tmp_path: Path) -> None:
    kinds = {}
    for name, url in (("postgresql", pg_url), ("sqlite", None)):
        path = tmp_path / name
        url = url or f"sqlite:///{path / 'store.db'}"
        with handoff_world(path, url) as (w, receiver, clock):
            assert w.store.engine.dialect.name == name
            await _scenario(w, receiver, clock)
            kinds[name] = _kinds(w)
            if name == "postgresql":
                with w.store.read() as conn:
                    due = conn.execute(sa.select(handoffs.c.decision_due_at)).scalars().all()
                    # timestamptz round-trips as aware UTC, like the SQLite decorator's output
                    assert all(d.utcoffset() == timedelta(0) for d in due)
                    statuses = set(conn.execute(sa.select(sla_alerts.c.status)).scalars())
                assert statuses == {"sent"}
    assert kinds["postgresql"] == kinds["sqlite"]
