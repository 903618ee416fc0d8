"""Pipedrive hand-offs: the real connector creates and reads leads, deals and activities in its
sandbox over loopback, never twice for one key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from smarketing_sync import HandoffCreated, HandoffRef, HandoffRequest, Http
from smarketing_sync.registry import sandbox_module
from smarketing_sync.sdk.http import HttpSettings
from smarketing_sync.testing import load_connector
from smarketing_sync.testing.sandbox import SandboxServer

PIPEDRIVE = load_connector("pipedrive")
SANDBOX = sandbox_module(PIPEDRIVE)
SCALE = 50.0
CEST = timezone(timedelta(hours=2))
DUE = datetime(2025, 6, 2, 14, 30, tzinfo=CEST)  # 12:30 UTC


def fresh_sandbox(people: int = 3) -> tuple[Any, list[str]]:
    sandbox = SANDBOX.create_sandbox(time_scale=SCALE)
    ids = [
        sandbox.add_person(f"lead{i}@example.com", first_name=f"Lee{i}", last_name="Ad")
        for i in range(people)
    ]
    return sandbox, ids


@asynccontextmanager
async def connected(sandbox: Any) -> AsyncIterator[tuple[Any, Http]]:
    with SandboxServer(sandbox.app()) as server:
        settings = PIPEDRIVE.settings.model_validate(sandbox.connector_settings(server.url))
        options = HttpSettings(rate_limit_scale=SCALE, max_backoff_s=0.2, initial_backoff_s=0.02)
        async with Http(
            PIPEDRIVE.name,
            server.url,
            PIPEDRIVE().headers(settings),
            PIPEDRIVE.rate_limit,
            options,
            errors=getattr(PIPEDRIVE, "error_overrides", None),
        ) as client:
            yield PIPEDRIVE(), client


def request(key: str, person: str, obj: str = "lead", **extra: Any) -> HandoffRequest:
    values: dict[str, Any] = {
        "key": key,
        "person_id": person,
        "object": obj,
        "owner_id": "3",
        "title": f"MQL {key}",
        "due_at": DUE,
        "task_subject": f"Call about {key}",
        "task_note": "Score 87 & rising",
        **extra,
    }
    return HandoffRequest(**values)


def ref(created: HandoffCreated, person: str, obj: str = "lead") -> HandoffRef:
    return HandoffRef(created.key, obj, created.object_id, created.task_id, person)


def posts(http: Http) -> dict[str, int]:
    return {k: v for k, v in http.calls.items() if k.startswith("POST ") and v}


async def test_lead_and_task_are_created_with_owner_and_due_time_in_utc() -> None:
    sandbox, (person, *_) = fresh_sandbox()
    async with connected(sandbox) as (connector, http):
        [created] = await connector.create_handoffs(http, [request("h-1", person)])
    assert created.ok and created.error is None, created
    lead = sandbox.lead(created.object_id)
    assert lead["title"] == "MQL h-1" and lead["person_id"] == int(person)
    assert lead["owner_id"] == 3 and lead["origin_id"] == "h-1" and lead["origin"] == "API"
    [task] = sandbox.tasks(person)
    assert str(task["id"]) == created.task_id
    assert task["lead_id"] == created.object_id and task["deal_id"] is None
    assert (task["due_date"], task["due_time"]) == ("2025-06-02", "12:30:00")
    assert task["type"] == "call" and task["owner_id"] == 3 and task["subject"] == "Call about h-1"
    assert task["participants"] == [{"person_id": int(person), "primary": True}]
    assert (
        "Score 87 &amp; rising" in task["note"] and "[smarketing-sync hand-off h-1]" in task["note"]
    )
    assert posts(http) == {"POST /api/v1/leads": 1, "POST /api/v2/activities": 1}


async def test_deal_goes_to_the_requested_pipeline_stage_with_the_key_in_a_custom_field() -> None:
    sandbox, (person, *_) = fresh_sandbox()
    deal_request = request("h-2", person, "deal", pipeline="2", stage="7")
    async with connected(sandbox) as (connector, http):
        [created] = await connector.create_handoffs(http, [deal_request])
    assert created.ok, created
    deal = sandbox.deal(created.object_id)
    assert (deal["pipeline_id"], deal["stage_id"], deal["owner_id"]) == (2, 7, 3)
    assert deal["person_id"] == int(person) and deal["title"] == "MQL h-2"
    key_field = sandbox.custom_field("smarketing-sync hand-off key", "deal")
    assert key_field is not None and deal["custom_fields"][key_field.code] == "h-2"
    [task] = sandbox.tasks(person)
    assert task["deal_id"] == int(created.object_id) and task["lead_id"] is None
    assert sandbox.leads() == []


async def test_task_only_creates_just_the_activity_on_the_person() -> None:
    sandbox, (person, *_) = fresh_sandbox()
    async with connected(sandbox) as (connector, http):
        [created] = await connector.create_handoffs(http, [request("h-3", person, "task")])
    assert created.ok and created.object_id is None and created.task_id is not None
    [task] = sandbox.tasks(person)
    assert task["lead_id"] is None and task["deal_id"] is None and task["person_id"] == int(person)
    assert posts(http) == {"POST /api/v2/activities": 1}


async def test_retry_after_a_failed_activity_reuses_the_lead() -> None:
    sandbox, (person, *_) = fresh_sandbox()
    sandbox.inject("POST", "/api/v2/activities", 500)
    async with connected(sandbox) as (connector, http):
        [first] = await connector.create_handoffs(http, [request("h-4", person)])
        assert not first.ok and first.retryable, "a 5xx on a create is re-sent later, not now"
        assert first.object_id is not None and first.task_id is None
        [second] = await connector.create_handoffs(http, [request("h-4", person, attempt=2)])
    assert second.ok and second.object_id == first.object_id
    assert len(sandbox.leads()) == 1 and len(sandbox.tasks(person)) == 1
    assert posts(http) == {"POST /api/v1/leads": 1, "POST /api/v2/activities": 2}  # 1 refused


async def test_retry_after_everything_was_created_creates_nothing() -> None:
    sandbox, people = fresh_sandbox()
    objects = ("lead", "deal", "task")
    first = [request(f"h-5{o}", p, o) for o, p in zip(objects, people, strict=True)]
    again = [request(r.key, r.person_id, r.object, attempt=3) for r in first]
    async with connected(sandbox) as (connector, http):
        created = await connector.create_handoffs(http, first)
        assert all(c.ok for c in created), created
        http.calls.clear()
        http.statuses.clear()
        repeated = await connector.create_handoffs(http, again)
    assert [(r.object_id, r.task_id) for r in repeated] == [
        (c.object_id, c.task_id) for c in created
    ]
    assert all(r.ok for r in repeated) and posts(http) == {}
    assert len(sandbox.leads()) == 1 and len(sandbox.tasks()) == 3


async def test_lookup_is_exact_so_a_longer_key_is_not_taken_for_ours() -> None:
    sandbox, (person, *_) = fresh_sandbox()
    async with connected(sandbox) as (connector, http):
        [longer] = await connector.create_handoffs(http, [request("k-12", person, "task")])
        [ours] = await connector.create_handoffs(http, [request("k-1", person, "task", attempt=2)])
    assert ours.ok and ours.task_id != longer.task_id
    assert len(sandbox.tasks(person)) == 2


async def test_a_key_sent_twice_in_one_call_is_created_once() -> None:
    sandbox, (person, *_) = fresh_sandbox()
    async with connected(sandbox) as (connector, http):
        one, two = await connector.create_handoffs(
            http, [request("h-6", person), request("h-6", person)]
        )
    assert one == two and one.ok
    assert len(sandbox.leads()) == 1 and len(sandbox.tasks(person)) == 1


async def test_validation_error_is_final_with_pipedrives_reason() -> None:
    sandbox, (person, *_) = fresh_sandbox()
    wrong_stage = request("h-7", person, "deal", pipeline="1", stage="7")
    not_an_id = request("h-8", person, owner_id="sam")
    async with connected(sandbox) as (connector, http):
        refused, local = await connector.create_handoffs(http, [wrong_stage, not_an_id])
    assert not refused.ok and not refused.retryable
    assert refused.error is not None and "400" in refused.error
    assert "Stage 7 does not belong to pipeline 1" in refused.error
    assert not local.ok and not local.retryable
    assert (
        local.error == "hand-off h-8: owner_id must be a Pipedrive id (a whole number), not 'sam'"
    )
    assert sandbox.tasks(person) == [] and "POST /api/v2/deals" in http.calls


async def test_deleted_person_is_final_and_says_so() -> None:
    sandbox, (person, *_) = fresh_sandbox()
    sandbox.delete_person(person)
    async with connected(sandbox) as (connector, http):
        [gone] = await connector.create_handoffs(http, [request("h-9", person)])
    assert not gone.ok and not gone.retryable and gone.error is not None
    assert f"Pipedrive person {person}" in gone.error and "no longer exists" in gone.error


async def test_server_error_on_the_lead_is_retryable_and_creates_nothing() -> None:
    sandbox, (person, *_) = fresh_sandbox()
    sandbox.inject("POST", "/api/v1/leads", 503)
    async with connected(sandbox) as (connector, http):
        [failed] = await connector.create_handoffs(http, [request("h-10", person)])
    assert not failed.ok and failed.retryable and failed.object_id is None
    assert http.calls["POST /api/v1/leads"] == 1, "a create is never re-sent blindly"
    assert sandbox.leads() == [] and sandbox.tasks() == []


def assert_calls(http: Http, expected: dict[str, int]) -> None:
    """Exactly these calls, apart from repeats of requests the sandbox answered 429 (its burst
    limit may trip on a busy machine; the shared Http layer waits and repeats them)."""
    repeats = http.statuses.get(429, 0)
    assert set(http.calls) == set(expected), http.calls
    assert sum(http.calls.values()) == sum(expected.values()) + repeats, (http.calls, repeats)
    for kind, count in expected.items():
        assert count <= http.calls[kind] <= count + repeats, (kind, http.calls, repeats)


async def test_read_back_labels_archive_conversion_deals_and_tasks() -> None:
    sandbox, people = fresh_sandbox(8)
    leads = [request(f"r-lead{i}", people[i]) for i in range(5)]
    deals = [request(f"r-deal{i}", people[5 + i], "deal") for i in range(2)]
    task = request("r-task", people[7], "task")
    async with connected(sandbox) as (connector, http):
        created = await connector.create_handoffs(http, [*leads, *deals, task])
        assert all(c.ok for c in created), created
        labelled, archived, converted, deleted, untouched = created[:5]
        sandbox.label_lead(labelled.object_id, "Hot")
        sandbox.label_lead(labelled.object_id, "Accepted")
        sandbox.archive_lead(archived.object_id)
        deal_from_lead = sandbox.convert_lead(converted.object_id, stage_id=3)
        sandbox.delete_lead(deleted.object_id)
        sandbox.reassign_lead(untouched.object_id, 2)
        won, lost = created[5:7]
        sandbox.set_deal_status(won.object_id, "won")
        sandbox.set_deal_status(lost.object_id, "lost", lost_reason="No budget")
        sandbox.complete_task(created[7].task_id)
        sandbox.delete_task(untouched.task_id)
        refs = [
            ref(c, r.person_id, r.object)
            for c, r in zip(created, [*leads, *deals, task], strict=True)
        ]
        http.calls.clear()
        http.statuses.clear()
        facts = {f.key: f for f in await connector.read_handoffs(http, refs)}
    assert facts["r-lead0"].facts["lead.label"] == ["Hot", "Accepted"]
    assert facts["r-lead0"].facts["lead.converted"] is False
    assert facts["r-lead0"].facts["task.done"] is False
    assert facts["r-lead1"].facts["lead.archived"] is True
    conversion = facts["r-lead2"]
    assert conversion.found and conversion.facts["lead.converted"] is True
    assert conversion.facts["lead.deal_id"] == deal_from_lead
    assert conversion.facts["deal.stage"] == "3" and conversion.facts["deal.status"] == "open"
    assert conversion.facts["task.done"] is False, "the activity moved to the deal"
    assert not facts["r-lead3"].found
    reassigned = facts["r-lead4"]
    assert reassigned.facts["owner"] == reassigned.facts["lead.owner"] == "2"
    assert reassigned.facts["task.deleted"] is True
    assert facts["r-deal0"].facts["deal.status"] == "won"
    assert facts["r-deal1"].facts["deal.status"] == "lost"
    assert facts["r-deal1"].facts["deal.lost_reason"] == "No budget"
    assert facts["r-deal1"].facts["deal.pipeline"] == "1"
    assert facts["r-task"].facts == {"task.done": True, "task.owner": "3", "owner": "3"}
    for key, item in facts.items():
        if item.found:
            assert item.changed_at is not None and item.changed_at.tzinfo is not None, key
    assert_calls(
        http,
        {
            "GET /api/v1/leadLabels": 1,
            "GET /api/v1/leads/{id}": 5,
            "GET /api/v2/deals": 3,  # both deals by ids, then one per person whose lead is gone
            "GET /api/v2/activities": 1,
        },
    )


async def test_reads_take_a_bounded_number_of_calls() -> None:
    sandbox, people = fresh_sandbox(120)
    requests = [request(f"b-{i}", p, "deal" if i % 2 else "task") for i, p in enumerate(people)]
    async with connected(sandbox) as (connector, http):
        created = await connector.create_handoffs(http, requests)
        refs = [ref(c, r.person_id, r.object) for c, r in zip(created, requests, strict=True)]
        sandbox.delete_task(created[0].task_id)
        http.calls.clear()
        http.statuses.clear()
        facts = await connector.read_handoffs(http, refs)
    assert [f.key for f in facts] == [r.key for r in refs]
    assert not facts[0].found and all(f.found for f in facts[1:])
    # 60 deals by ids (1 call), 120 tasks by ids (2 calls of at most 100), no per-object reads.
    assert_calls(http, {"GET /api/v2/deals": 1, "GET /api/v2/activities": 2})


async def test_sandbox_refuses_person_id_on_v2_activities_like_pipedrive() -> None:
    sandbox, (person, *_) = fresh_sandbox()
    with SandboxServer(sandbox.app()) as server:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"x-api-token": sandbox.token}
        ) as client:
            answer = await client.post(
                "/api/v2/activities", json={"subject": "x", "person_id": int(person)}
            )
            labels = (await client.get("/api/v1/leadLabels")).json()["data"]
            lead = await client.post("/api/v1/leads", json={"title": "t", "person_id": int(person)})
            users = (await client.get("/api/v1/users")).json()["data"]
    assert answer.status_code == 400 and answer.json()["success"] is False
    assert "'person_id' is a read-only field" in answer.json()["error"]
    assert [label["name"] for label in labels] == ["Hot", "Warm", "Cold"]
    assert lead.status_code == 201 and len(lead.json()["data"]["id"]) == 36
    assert [u["id"] for u in users] == [1, 2, 3]
    assert datetime.fromisoformat(lead.json()["data"]["add_time"]).tzinfo == UTC
