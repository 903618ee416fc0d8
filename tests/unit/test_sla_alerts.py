"""SLA breach alerts against a real webhook receiver on 127.0.0.1, on a store with a fake clock."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from smarketing_sync.errors import ConfigError
from smarketing_sync.handoff.alerts import (
    BreachInfo,
    DeliveryStats,
    breach_payload,
    deliver_due,
    queue_alerts,
    redact_url,
)
from smarketing_sync.settings import AlertSettings, AlertTarget
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import customers, handoffs, sla_alerts

T0 = datetime(2025, 3, 12, 10, 0, tzinfo=UTC)
SECRET_PATH = "/services/T0001/B0002/SECRETxyzSECRET"


# --- a webhook receiver ------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # the default 5 drops bursts of connects (1 s SYN retry)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is what the timeout test wants


class Receiver:
    """Answers each path from a script (then 200) and records every request it got."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._lock:
                    path = self.path.split("?")[0]
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                    queue = receiver.script.get(path, [])
                    reply = queue.pop(0) if queue else Reply()
                time.sleep(reply.delay_s)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [r.body for r in self.received if r.path.split("?")[0] == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"  # nothing listens there any more


# --- a store with a controllable clock ---------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'store.db'}", now=clock)
    yield s
    s.dispose()


def add_handoff(store: Store, key: str = "h-1") -> tuple[int, int]:
    with store.begin() as conn:
        customer = conn.execute(
            customers.insert().values(
                email="jane@example.com", golden={}, provenance={}, rev=1,
                created_at=T0, updated_at=T0,
            )
        ).inserted_primary_key  # fmt: skip
        assert customer is not None
        handoff = conn.execute(
            handoffs.insert().values(
                key=key, customer_id=customer[0], crm="pipedrive", state="handed_over",
                owner_id="42", team="sales", handed_over_at=T0 - timedelta(days=1),
                decision_due_at=T0 - timedelta(hours=2), touch_due_at=T0,
                crm_object="lead", crm_object_id="lead-7", create_status="done",
                create_attempts=1, next_attempt_at=T0, facts={}, updated_at=T0,
            )
        ).inserted_primary_key  # fmt: skip
        assert handoff is not None
    return int(handoff[0]), int(customer[0])


def breach(handoff_id: int, customer_id: int, **changes: Any) -> BreachInfo:
    info = BreachInfo(
        handoff_id=handoff_id,
        key="h-1",
        customer_id=customer_id,
        email="jane@example.com",
        name="Jane Doe",
        owner_id="42",
        owner_name="Max Mustermann",
        clock="decision",
        level="breach",
        handed_over_at=datetime(2025, 3, 11, 9, 0, tzinfo=UTC),
        due_at=datetime(2025, 3, 11, 17, 0, tzinfo=UTC),
        overdue_bh=2.5,
        team="sales",
        crm="pipedrive",
        crm_object_id="lead-7",
    )
    return replace(info, **changes)


def queue(store: Store, info: BreachInfo, *targets: AlertTarget) -> int:
    with store.begin() as conn:
        return queue_alerts(conn, info, targets, store.now())


def rows(store: Store) -> list[sa.Row[Any]]:
    with store.read() as conn:
        return list(conn.execute(sa.select(sla_alerts).order_by(sla_alerts.c.id)))


FAST = AlertSettings(backoff_s=30, max_attempts=4, timeout_s=2)


# --- payloads ----------------------------------------------------------------------------------


def test_json_payload_names_the_hand_off_owner_and_customer() -> None:
    assert breach_payload(breach(5, 9), "json", alert_id=17) == {
        "event": "sla.breach",
        "id": 17,
        "idempotency_key": "sla-alert:17:h-1",
        "clock": "decision",
        "handoff": {
            "key": "h-1",
            "state": "handed_over",
            "crm": "pipedrive",
            "crm_object_id": "lead-7",
            "handed_over_at": "2025-03-11T09:00:00Z",
            "due_at": "2025-03-11T17:00:00Z",
            "overdue_business_hours": 2.5,
        },
        "owner": {"id": "42", "name": "Max Mustermann"},
        "customer": {"id": 9, "email": "jane@example.com", "name": "Jane Doe"},
        "team": "sales",
    }
    escalation = breach_payload(breach(5, 9, level="escalation"), "json", alert_id=18)
    assert escalation["event"] == "sla.escalation"


def test_chat_payload_says_who_which_lead_and_how_late() -> None:
    assert breach_payload(breach(5, 9), "chat") == {
        "text": "SLA breach: the decision (accept or reject) is 2.5 business hours overdue\n"
        "Lead *Jane Doe* (jane@example.com), handed to *Max Mustermann* (team sales) "
        "on 2025-03-11 09:00 UTC, due 2025-03-11 17:00 UTC.\n"
        "pipedrive lead-7 · hand-off h-1"
    }
    escalation = breach(
        5, 9, level="escalation", clock="first_touch", overdue_bh=6, email=None, owner_id=None
    )
    assert breach_payload(escalation, "chat") == {
        "text": "SLA escalation: the first touch is still missing, 6.0 business hours after "
        "its due time\n"
        "Lead *Jane Doe*, handed to *nobody* (unassigned) (team sales) "
        "on 2025-03-11 09:00 UTC, due 2025-03-11 17:00 UTC.\n"
        "pipedrive lead-7 · hand-off h-1"
    }


def test_redacted_url_keeps_only_scheme_host_and_port() -> None:
    assert (
        redact_url("https://hooks.slack.com/services/T/B/secret?x=1") == "https://hooks.slack.com/…"
    )
    assert redact_url("http://u:pw@127.0.0.1:8080/p") == "http://127.0.0.1:8080/…"


# --- queueing ----------------------------------------------------------------------------------


def test_each_alert_is_queued_once_per_target(store: Store) -> None:
    hid, cid = add_handoff(store)
    json_target = AlertTarget(url="http://127.0.0.1:9/json")
    chat_target = AlertTarget(url="http://127.0.0.1:9/chat", format="chat")
    assert queue(store, breach(hid, cid), json_target, chat_target, json_target) == 2
    assert queue(store, breach(hid, cid, overdue_bh=3.5), json_target, chat_target) == 0
    assert queue(store, breach(hid, cid, clock="first_touch"), json_target) == 1
    assert queue(store, breach(hid, cid, level="escalation"), json_target) == 1
    queued = rows(store)
    assert [(r.clock, r.level, r.format, r.status) for r in queued] == [
        ("decision", "breach", "json", "pending"),
        ("decision", "breach", "chat", "pending"),
        ("first_touch", "breach", "json", "pending"),
        ("decision", "escalation", "json", "pending"),
    ]
    first = queued[0]
    assert first.payload["id"] == first.id
    assert first.payload["idempotency_key"] == f"sla-alert:{first.id}:h-1"
    assert first.payload["handoff"]["overdue_business_hours"] == 2.5  # the first queueing holds
    assert first.next_attempt_at == T0 and first.attempts == 0


def test_a_url_too_long_for_the_store_is_refused_without_showing_it(store: Store) -> None:
    hid, cid = add_handoff(store)
    target = AlertTarget(url="https://hooks.example.com/" + "s" * 600)
    with pytest.raises(ConfigError, match=r"at most 512 characters.*hooks\.example\.com/…") as err:
        queue(store, breach(hid, cid), target)
    assert "sss" not in str(err.value)


# --- delivery ----------------------------------------------------------------------------------


async def test_delivered_exactly_once_over_repeated_runs(
    store: Store, clock: Clock, receiver: Receiver
) -> None:
    hid, cid = add_handoff(store)
    targets = [
        AlertTarget(url=receiver.url("/json")),
        AlertTarget(url=receiver.url("/chat"), format="chat"),
    ]
    queue(store, breach(hid, cid), *targets)

    assert await deliver_due(store, FAST) == DeliveryStats(sent=2, failed=0, dead=0)
    for _ in range(3):
        clock.advance(hours=2)
        queue(store, breach(hid, cid, overdue_bh=4.5), *targets)  # the next breach check
        assert await deliver_due(store, FAST) == DeliveryStats()

    assert len(receiver.received) == 2
    [json_body] = receiver.bodies("/json")
    [chat_body] = receiver.bodies("/chat")
    sent = rows(store)
    assert json_body == sent[0].payload and json_body["id"] == sent[0].id
    assert chat_body == sent[1].payload and set(chat_body) == {"text"}
    for row in sent:
        assert (row.status, row.attempts, row.sent_at, row.last_error) == ("sent", 1, T0, None)
    keys = {r.path: r.headers["Idempotency-Key"] for r in receiver.received}
    assert keys == {"/json": f"sla-alert:{sent[0].id}:h-1", "/chat": f"sla-alert:{sent[1].id}:h-1"}


async def test_retried_after_a_server_error_then_sent(
    store: Store, clock: Clock, receiver: Receiver
) -> None:
    hid, cid = add_handoff(store)
    queue(store, breach(hid, cid), AlertTarget(url=receiver.url("/hook")))
    receiver.script["/hook"] = [Reply(500), Reply(502)]

    assert await deliver_due(store, FAST) == DeliveryStats(failed=1)
    [row] = rows(store)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    assert row.next_attempt_at == T0 + timedelta(seconds=30)

    clock.advance(seconds=29)
    assert await deliver_due(store, FAST) == DeliveryStats()  # not due yet
    clock.advance(seconds=1)
    assert await deliver_due(store, FAST) == DeliveryStats(failed=1)
    [row] = rows(store)
    assert (row.attempts, row.last_error) == (2, "HTTP 502")
    assert row.next_attempt_at == T0 + timedelta(seconds=30 + 60)  # the wait doubled

    clock.advance(seconds=60)
    assert await deliver_due(store, FAST) == DeliveryStats(sent=1)
    [row] = rows(store)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 3, T0 + timedelta(seconds=90))
    assert row.last_error is None
    keys = {r.headers["Idempotency-Key"] for r in receiver.received}
    assert len(receiver.received) == 3 and keys == {f"sla-alert:{row.id}:h-1"}


async def test_retry_after_is_honoured(store: Store, clock: Clock, receiver: Receiver) -> None:
    hid, cid = add_handoff(store)
    queue(store, breach(hid, cid), AlertTarget(url=receiver.url("/slow")))
    later = format_datetime(T0 + timedelta(minutes=10), usegmt=True)
    receiver.script["/slow"] = [
        Reply(429, {"Retry-After": "120"}),
        Reply(503, {"Retry-After": later}),
    ]

    await deliver_due(store, FAST)
    [row] = rows(store)
    assert row.next_attempt_at == T0 + timedelta(seconds=120)  # not the 30 s backoff
    assert row.last_error == "HTTP 429"

    clock.advance(seconds=120)
    await deliver_due(store, FAST)
    [row] = rows(store)
    assert row.next_attempt_at == T0 + timedelta(minutes=10)  # the HTTP date
    assert row.last_error == "HTTP 503"

    clock.now = T0 + timedelta(minutes=10)
    assert await deliver_due(store, FAST) == DeliveryStats(sent=1)


async def test_dead_after_max_attempts(store: Store, clock: Clock, receiver: Receiver) -> None:
    hid, cid = add_handoff(store)
    queue(store, breach(hid, cid), AlertTarget(url=receiver.url("/broken")))
    receiver.script["/broken"] = [Reply(500)] * 10
    settings = AlertSettings(max_attempts=3, backoff_s=10)

    assert await deliver_due(store, settings) == DeliveryStats(failed=1)
    clock.advance(seconds=10)
    assert await deliver_due(store, settings) == DeliveryStats(failed=1)
    clock.advance(seconds=20)
    assert await deliver_due(store, settings) == DeliveryStats(dead=1)
    [row] = rows(store)
    assert (row.status, row.attempts, row.last_error) == ("dead", 3, "HTTP 500")

    clock.advance(hours=5)
    assert await deliver_due(store, settings) == DeliveryStats()
    assert len(receiver.received) == 3


async def test_connection_refused_is_a_failure_with_capped_backoff(
    store: Store, clock: Clock, refused_url: str
) -> None:
    hid, cid = add_handoff(store)
    queue(store, breach(hid, cid), AlertTarget(url=refused_url))
    settings = AlertSettings(max_attempts=10, backoff_s=1000)
    waits = []
    for _ in range(3):
        assert await deliver_due(store, settings) == DeliveryStats(failed=1)
        [row] = rows(store)
        waits.append(row.next_attempt_at - clock.now)
        clock.now = row.next_attempt_at
    assert row.last_error == "ConnectError"
    assert waits == [timedelta(seconds=1000), timedelta(seconds=2000), timedelta(hours=1)]


async def test_a_timeout_is_a_failure(store: Store, receiver: Receiver) -> None:
    hid, cid = add_handoff(store)
    queue(store, breach(hid, cid), AlertTarget(url=receiver.url("/hang")))
    receiver.script["/hang"] = [Reply(200, delay_s=1.0)]
    assert await deliver_due(store, AlertSettings(timeout_s=0.2)) == DeliveryStats(failed=1)
    [row] = rows(store)
    assert row.last_error == "ReadTimeout"


async def test_two_daemons_at_once_send_each_alert_once(
    store: Store, receiver: Receiver, tmp_path: Path, clock: Clock
) -> None:
    hid, cid = add_handoff(store)
    for n in range(10):
        queue(store, breach(hid, cid), AlertTarget(url=receiver.url(f"/hook/{n}")))
    other = Store.open(f"sqlite:///{tmp_path / 'store.db'}", now=clock)
    try:
        first, second = await asyncio.gather(deliver_due(store, FAST), deliver_due(other, FAST))
    finally:
        other.dispose()
    assert first.sent + second.sent == 10
    assert sorted(r.path for r in receiver.received) == sorted(f"/hook/{n}" for n in range(10))


async def test_an_alert_cut_off_mid_send_goes_out_again_later(
    store: Store, clock: Clock, receiver: Receiver
) -> None:
    hid, cid = add_handoff(store)
    queue(store, breach(hid, cid), AlertTarget(url=receiver.url("/hook")))

    def shutdown(request: httpx.Request) -> httpx.Response:
        raise asyncio.CancelledError  # SIGTERM cancelled the task before the outcome was stored

    async with httpx.AsyncClient(transport=httpx.MockTransport(shutdown)) as cut_off:
        with pytest.raises(asyncio.CancelledError):
            await deliver_due(store, FAST, client=cut_off)
    [row] = rows(store)
    assert (row.status, row.attempts) == ("pending", 0)

    assert await deliver_due(store, FAST) == DeliveryStats()  # still claimed by the lost send
    clock.advance(seconds=2 * FAST.timeout_s + 60)
    async with httpx.AsyncClient() as client:
        assert await deliver_due(store, FAST, client=client) == DeliveryStats(sent=1)
    assert len(receiver.received) == 1


async def test_the_secret_url_never_reaches_the_logs(
    store: Store, clock: Clock, receiver: Receiver
) -> None:
    hid, cid = add_handoff(store)
    secret = receiver.url(SECRET_PATH + "?token=tok-123")
    queue(store, breach(hid, cid), AlertTarget(url=secret, format="chat"))
    receiver.script[SECRET_PATH] = [Reply(500)]
    settings = AlertSettings(max_attempts=2, backoff_s=1)
    with capture_logs() as logs:
        await deliver_due(store, settings)
        clock.advance(seconds=1)
        await deliver_due(store, settings)
        queue(store, breach(hid, cid, level="escalation"), AlertTarget(url=secret + "&x=1"))
        receiver.script[SECRET_PATH] = [Reply(500)] * 2
        await deliver_due(store, settings)
        clock.advance(seconds=1)
        await deliver_due(store, settings)

    assert [e["event"] for e in logs] == [
        "sla_alert.retry",
        "sla_alert.sent",
        "sla_alert.retry",
        "sla_alert.dead",
    ]
    assert receiver.bodies(SECRET_PATH)  # the secret URL was really used
    text = repr(logs)
    assert "SECRET" not in text and "tok-123" not in text
    assert {e["target"] for e in logs} == {
        f"http://127.0.0.1:{receiver.server.server_address[1]}/…"
    }
    assert all("SECRET" not in (r.last_error or "") for r in rows(store))
