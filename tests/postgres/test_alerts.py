"""SLA alerts on PostgreSQL: INSERT … ON CONFLICT DO NOTHING RETURNING queues each alert once
per target, and delivery claims due rows so that two daemons send each alert once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync.handoff.alerts import BreachInfo, DeliveryStats, deliver_due, queue_alerts
from smarketing_sync.settings import AlertSettings, AlertTarget
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import customers, handoffs, sla_alerts
from smarketing_sync.testing.sandbox import SandboxServer
from smarketing_sync.testing.webhooks import WebhookReceiver

T0 = datetime(2025, 3, 12, 10, 0, tzinfo=UTC)
SETTINGS = AlertSettings(backoff_s=30, max_attempts=3, timeout_s=2)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(pg_url: str, clock: Clock) -> Iterator[Store]:
    s = Store.open(pg_url, now=clock)
    yield s
    s.dispose()


@pytest.fixture
def hooks() -> Iterator[tuple[WebhookReceiver, str]]:
    receiver = WebhookReceiver()
    with SandboxServer(receiver.app()) as server:
        yield receiver, server.url


def add_breach(store: Store, key: str) -> BreachInfo:
    with store.begin() as conn:
        customer_id = conn.execute(
            customers.insert()
            .values(email=f"{key}@example.com", golden={}, provenance={}, rev=1,
                    created_at=T0, updated_at=T0)
            .returning(customers.c.id)
        ).scalar_one()  # fmt: skip
        handoff_id = conn.execute(
            handoffs.insert()
            .values(
                key=key, customer_id=customer_id, crm="pipedrive", state="handed_over",
                owner_id="42", team="sales", handed_over_at=T0 - timedelta(days=1),
                decision_due_at=T0 - timedelta(hours=2), touch_due_at=T0, crm_object="lead",
                crm_object_id=f"lead-{key}", create_status="done", next_attempt_at=T0, facts={},
                updated_at=T0,
            )
            .returning(handoffs.c.id)
        ).scalar_one()  # fmt: skip
    return BreachInfo(
        handoff_id=handoff_id, key=key, customer_id=customer_id, email=f"{key}@example.com",
        name="Jane Doe", owner_id="42", owner_name="Max Mustermann", clock="decision",
        level="breach", handed_over_at=T0 - timedelta(days=1), due_at=T0 - timedelta(hours=2),
        overdue_bh=2.5, team="sales", crm="pipedrive", crm_object_id=f"lead-{key}",
    )  # fmt: skip


def queue(store: Store, info: BreachInfo, *targets: AlertTarget) -> int:
    with store.begin() as conn:
        return queue_alerts(conn, info, targets, store.now())


def rows(store: Store) -> list[sa.Row[Any]]:
    with store.read() as conn:
        return list(conn.execute(sa.select(sla_alerts).order_by(sla_alerts.c.id)))


def test_queued_once_per_target_and_the_payload_carries_the_row_id(store: Store) -> None:
    info = add_breach(store, "h-1")
    json_target = AlertTarget(url="http://127.0.0.1:9/json")
    chat_target = AlertTarget(url="http://127.0.0.1:9/chat", format="chat")
    assert queue(store, info, json_target, chat_target, json_target) == 2
    assert queue(store, info, json_target, chat_target) == 0
    assert queue(store, replace(info, level="escalation"), json_target) == 1
    queued = rows(store)
    assert [(r.level, r.format, r.status, r.attempts) for r in queued] == [
        ("breach", "json", "pending", 0),
        ("breach", "chat", "pending", 0),
        ("escalation", "json", "pending", 0),
    ]
    first = queued[0]
    assert first.payload["id"] == first.id
    assert first.payload["idempotency_key"] == f"sla-alert:{first.id}:h-1"
    assert first.next_attempt_at == T0 and first.next_attempt_at.tzinfo is not None


async def test_due_rows_are_sent_once_and_not_again(
    store: Store, clock: Clock, hooks: tuple[WebhookReceiver, str]
) -> None:
    receiver, url = hooks
    info = add_breach(store, "h-1")
    queue(
        store, info, AlertTarget(url=f"{url}/json"), AlertTarget(url=f"{url}/chat", format="chat")
    )
    assert await deliver_due(store, SETTINGS) == DeliveryStats(sent=2)
    clock.now += timedelta(hours=2)
    assert queue(store, info, AlertTarget(url=f"{url}/json")) == 0
    assert await deliver_due(store, SETTINGS) == DeliveryStats()
    [body] = receiver.bodies("/json")
    sent = rows(store)
    assert body == sent[0].payload
    assert [(r.status, r.attempts, r.sent_at) for r in sent] == [("sent", 1, T0)] * 2


async def test_a_failed_row_waits_for_its_backoff(
    store: Store, clock: Clock, hooks: tuple[WebhookReceiver, str]
) -> None:
    receiver, url = hooks
    receiver.fail_next = 1
    queue(store, add_breach(store, "h-1"), AlertTarget(url=f"{url}/json"))
    assert await deliver_due(store, SETTINGS) == DeliveryStats(failed=1)
    [row] = rows(store)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    assert row.next_attempt_at == T0 + timedelta(seconds=30)
    assert await deliver_due(store, SETTINGS) == DeliveryStats()  # not due yet
    clock.now += timedelta(seconds=30)
    assert await deliver_due(store, SETTINGS) == DeliveryStats(sent=1)
    assert len(receiver.bodies("/json")) == 1


async def test_two_daemons_at_once_send_each_alert_once(
    store: Store, pg_url: str, clock: Clock, hooks: tuple[WebhookReceiver, str]
) -> None:
    receiver, url = hooks
    for n in range(12):
        queue(store, add_breach(store, f"h-{n}"), AlertTarget(url=f"{url}/hook/{n}"))
    other = Store.open(pg_url, now=clock)
    try:
        first, second = await asyncio.gather(
            deliver_due(store, SETTINGS), deliver_due(other, SETTINGS)
        )
    finally:
        other.dispose()
    assert first.sent + second.sent == 12 and first.failed + second.failed == 0
    assert sorted(r.path for r in receiver.received) == sorted(f"/hook/{n}" for n in range(12))
    assert {r.status for r in rows(store)} == {"sent"}
