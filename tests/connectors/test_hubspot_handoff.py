"""HubSpot as CRM: the hand-off task created and read back by the real connector, over loopback.

The sandbox runs on 127.0.0.1 with HubSpot's paths, shapes, limits and errors; faults are
injected with the sandbox's own FaultInjector.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import httpx
import pytest

from smarketing_sync import Capability, HandoffRef, HandoffRequest, Http, RecordError, registry
from smarketing_sync.sdk.http import HttpSettings
from smarketing_sync.testing.faults import FaultConfig
from smarketing_sync.testing.population import SeedPerson, ToolData
from smarketing_sync.testing.sandbox import SandboxServer

SCALE = 50.0
START = datetime(2025, 1, 1, tzinfo=UTC)
DUE = datetime(2025, 3, 4, 15, 30, 12, 345000, tzinfo=UTC)
OWNER = "61512302"
CREATE = "POST /crm/v3/objects/tasks"
BATCH_CREATE = "POST /crm/v3/objects/tasks/batch/create"

Connector = Any


def people(n: int) -> ToolData:
    return ToolData(
        [
            SeedPerson(
                key=i,
                email=f"lead{i}@example.com",
                first_name=f"First{i}",
                last_name=f"Last{i}",
                company="Acme",
                job_title="CTO",
                phone="+4930123456",
                country="DE",
                city="Berlin",
                created_at=START,
                updated_at=START + timedelta(minutes=i),
            )
            for i in range(n)
        ],
        [],
    )


class World:
    def __init__(self, cls: Connector, sandbox: Any, url: str) -> None:
        self.connector = cls()
        self.sandbox = sandbox
        self.url = url
        settings = cls.settings.model_validate(sandbox.connector_settings(url))
        self.http = Http(
            cls.name,
            url,
            self.connector.headers(settings),
            cls.rate_limit,
            HttpSettings(rate_limit_scale=SCALE, initial_backoff_s=0.01, max_backoff_s=0.05),
            errors=getattr(cls, "error_overrides", None),
        )
        self.contacts = sorted((p["id"] for p in sandbox.people()), key=int)

    def request(self, index: int, key: str | None = None, **changes: Any) -> HandoffRequest:
        values: dict[str, Any] = {
            "key": key or f"handoff-{index}",
            "person_id": self.contacts[index],
            "object": "task",
            "owner_id": OWNER,
            "title": f"Lead {index}",
            "due_at": DUE,
            "task_type": "call",
            "task_subject": f"Follow up with lead {index}",
            "task_note": f"Score 87, reached MQL on 2025-03-03 (lead {index})",
        }
        values.update(changes)
        return HandoffRequest(**values)

    def faults(self, **config: Any) -> None:
        self.sandbox.fault_injector.configure(FaultConfig(**config))

    def calls(self, kind: str) -> int:
        return int(self.http.calls[kind])


@pytest.fixture(scope="module")
def hubspot() -> Connector:
    return registry.load_connector("hubspot")


@pytest.fixture(scope="module")
def sandbox_module(hubspot: Connector) -> ModuleType:
    return registry.sandbox_module(hubspot)


@pytest.fixture
def serve(hubspot: Connector, sandbox_module: ModuleType) -> Iterator[Any]:
    servers: list[SandboxServer] = []

    def start(n: int = 20) -> World:
        sandbox = sandbox_module.create_sandbox(people(n), time_scale=SCALE)
        server = SandboxServer(sandbox.app()).start()
        servers.append(server)
        return World(hubspot, sandbox, server.url)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
async def world(serve: Any) -> AsyncIterator[World]:
    w: World = serve()
    yield w
    await w.http.aclose()


# -- create ------------------------------------------------------------------------------------


async def test_declares_the_handoff_capability(hubspot: Connector) -> None:
    assert Capability.HANDOFF in hubspot.capabilities


async def test_task_is_created_with_owner_due_time_and_contact_association(world: World) -> None:
    [answer] = await world.connector.create_handoffs(world.http, [world.request(0)])

    assert answer.ok and answer.task_id and answer.object_id is None and answer.error is None
    [task] = world.sandbox.tasks(world.contacts[0])
    assert task["id"] == answer.task_id
    assert task["contact_ids"] == [world.contacts[0]]
    assert task["owner_id"] == OWNER
    assert task["due_at"] == DUE.replace(microsecond=345000)
    assert (task["status"], task["type"]) == ("NOT_STARTED", "CALL")
    assert task["subject"] == "Follow up with lead 0"
    assert "Score 87" in task["body"] and "hand-off key: handoff-0" in task["body"]
    # One create, one existence check of the contact; nothing else.
    assert world.calls(CREATE) == 1
    assert world.calls("POST /crm/v3/objects/contacts/batch/read") == 1
    assert sum(world.http.calls.values()) == 2


async def test_several_requests_go_out_in_batches_of_100(world: World) -> None:
    types = ["call", "email", "meeting"]
    requests = [world.request(i % 20, f"k{i}", task_type=types[i % 3]) for i in range(250)]

    answers = await world.connector.create_handoffs(world.http, requests)

    assert [a.key for a in answers] == [r.key for r in requests]
    assert all(a.ok for a in answers)
    assert len({a.task_id for a in answers}) == 250 == len(world.sandbox.tasks())
    by_id = {t["id"]: t for t in world.sandbox.tasks()}
    assert [by_id[a.task_id]["type"] for a in answers[:3]] == ["CALL", "EMAIL", "TODO"]
    assert all(
        by_id[a.task_id]["contact_ids"] == [r.person_id]
        for a, r in zip(answers, requests, strict=True)
    )
    assert world.calls(BATCH_CREATE) == 3 and world.calls(CREATE) == 0
    assert world.calls("POST /crm/v3/objects/contacts/batch/read") == 1  # 20 distinct contacts


async def test_a_lost_answer_then_attempt_2_creates_no_second_task(world: World) -> None:
    # The task is written but its answer is cut off: the outcome is unknown, so retryable.
    world.faults(malformed_rate=1.0, methods=("POST",), paths=("/crm/v3/objects/tasks",))
    [first] = await world.connector.create_handoffs(world.http, [world.request(3)])
    assert not first.ok and first.retryable and "did not confirm" in (first.error or "")
    assert len(world.sandbox.tasks(world.contacts[3])) == 1
    assert world.calls(CREATE) == 1  # a create is never re-sent blindly

    world.faults()
    [second] = await world.connector.create_handoffs(world.http, [world.request(3, attempt=2)])

    [task] = world.sandbox.tasks(world.contacts[3])
    assert second.ok and second.task_id == task["id"]
    assert world.calls(CREATE) == 1


async def test_attempt_2_of_a_batch_finds_the_lost_tasks_and_creates_only_new_ones(
    world: World,
) -> None:
    # The contact already has an unrelated task whose key starts like ours: not a match.
    await world.connector.create_handoffs(world.http, [world.request(1, "k1-other")])
    world.faults(malformed_rate=1.0, methods=("POST",), paths=("/crm/v3/objects/tasks/batch",))
    lost = await world.connector.create_handoffs(
        world.http, [world.request(1, "k1"), world.request(2, "k2")]
    )
    assert [a.retryable for a in lost] == [True, True]
    world.faults()

    again = await world.connector.create_handoffs(
        world.http,
        [world.request(1, "k1", attempt=2), world.request(2, "k2", attempt=2), world.request(4)],
    )

    assert all(a.ok for a in again)
    assert len(world.sandbox.tasks()) == 4  # k1-other, k1, k2 and the new one
    ids = {t["body"].rsplit(": ", 1)[-1]: t["id"] for t in world.sandbox.tasks()}
    assert [a.task_id for a in again] == [ids["k1"], ids["k2"], ids["handoff-4"]]
    assert world.calls("POST /crm/v4/associations/contacts/tasks/batch/read") == 1
    assert world.calls(CREATE) == 2  # k1-other, then the one new task


async def test_a_refused_task_is_not_retryable_and_the_others_are_created(world: World) -> None:
    requests = [world.request(0), world.request(1, owner_id="99999999"), world.request(2)]

    answers = await world.connector.create_handoffs(world.http, requests)

    assert [a.ok for a in answers] == [True, False, True]
    refused = answers[1]
    assert not refused.retryable
    assert "VALIDATION_ERROR" in (refused.error or "") and "99999999" in (refused.error or "")
    assert "hubspot_owner_id" in (refused.error or "")
    assert len(world.sandbox.tasks()) == 2


async def test_a_single_refused_create_carries_hubspots_message(world: World) -> None:
    [answer] = await world.connector.create_handoffs(
        world.http, [world.request(0, owner_id="12345")]
    )
    assert not answer.ok and not answer.retryable
    assert "answered 400" in (answer.error or "") and "12345" in (answer.error or "")


async def test_a_5xx_on_create_is_retryable_and_not_resent(world: World) -> None:
    world.faults(error_rate=1.0, methods=("POST",), paths=("/crm/v3/objects/tasks",))

    answers = await world.connector.create_handoffs(
        world.http, [world.request(0), world.request(1, "b"), world.request(2, "c")]
    )

    assert all(not a.ok and a.retryable for a in answers)
    assert "answered 5" in (answers[0].error or "")
    assert world.sandbox.tasks() == []
    assert world.calls(BATCH_CREATE) == 1


async def test_unknown_contact_and_wrong_object_are_refused_with_a_clear_reason(
    world: World,
) -> None:
    world.sandbox.delete_person(world.contacts[5])
    answers = await world.connector.create_handoffs(
        world.http,
        [
            world.request(5),
            world.request(6, object="lead"),
            world.request(7, person_id="alice@example.com"),
            world.request(8, owner_id="anna"),
        ],
    )

    assert all(not a.ok and not a.retryable for a in answers)
    gone, lead, email, owner = (a.error or "" for a in answers)
    assert f"no contact {world.contacts[5]}" in gone
    assert 'handoff.object = "task"' in lead
    assert "not a HubSpot contact id" in email
    assert "GET /crm/v3/owners" in owner
    assert world.sandbox.tasks() == []


async def test_a_repeated_key_in_one_call_creates_one_task(world: World) -> None:
    answers = await world.connector.create_handoffs(
        world.http, [world.request(0, "same"), world.request(0, "same")]
    )
    assert answers[0] == answers[1] and answers[0].ok
    assert len(world.sandbox.tasks()) == 1


# -- read back --------------------------------------------------------------------------------


def ref(world: World, index: int, task_id: str | None, key: str | None = None) -> HandoffRef:
    return HandoffRef(key or f"handoff-{index}", "task", None, task_id, world.contacts[index])


async def test_read_handoffs_follows_the_task_the_lead_status_and_deletions(
    world: World,
) -> None:
    created = await world.connector.create_handoffs(
        world.http, [world.request(0), world.request(1)]
    )
    refs = [ref(world, i, a.task_id) for i, a in enumerate(created)]
    contact = world.contacts[0]

    before = await world.connector.read_handoffs(world.http, refs)
    facts = before[0].facts
    assert before[0].found
    assert facts["task.status"] == "NOT_STARTED" and facts["task.done"] is False
    assert facts["task.owner"] == OWNER
    assert facts["contact.owner"] in {o["id"] for o in world.sandbox.owners()}
    assert facts["owner"] == facts["contact.owner"]  # the contact's owner wins over the task's
    assert facts["contact.lifecycle"] and facts["contact.lead_status"]

    world.sandbox.complete_task(created[0].task_id)
    world.sandbox.set_lead_status(contact, "UNQUALIFIED")
    after = await world.connector.read_handoffs(world.http, refs)
    assert after[0].facts["task.done"] is True and after[0].facts["task.status"] == "COMPLETED"
    assert after[0].facts["contact.lead_status"] == "UNQUALIFIED"
    assert after[0].changed_at is not None and before[0].changed_at is not None
    assert after[0].changed_at > before[0].changed_at
    assert after[1].facts == before[1].facts

    world.sandbox.delete_person(contact)
    world.sandbox.delete_task(created[1].task_id)
    gone = await world.connector.read_handoffs(world.http, refs)
    assert [g.found for g in gone] == [False, False]
    assert gone[0].facts["contact.deleted"] is True and gone[0].facts["task.done"] is True
    assert gone[1].facts["task.deleted"] is True and gone[1].facts["contact.deleted"] is False


async def test_owner_falls_back_to_the_task_owner(world: World) -> None:
    await _clear_contact_owner(world, world.contacts[0])
    [created] = await world.connector.create_handoffs(world.http, [world.request(0)])
    [facts] = await world.connector.read_handoffs(world.http, [ref(world, 0, created.task_id)])
    assert facts.facts["contact.owner"] is None and facts.facts["owner"] == OWNER


async def _clear_contact_owner(world: World, contact_id: str) -> None:
    inputs = [{"id": contact_id, "properties": {"hubspot_owner_id": ""}}]
    response = await world.http.post(
        "/crm/v3/objects/contacts/batch/update", json={"inputs": inputs}
    )
    assert response.status_code == 200


async def test_reading_150_handoffs_costs_four_batch_reads(serve: Any) -> None:
    w: World = serve(150)
    try:
        created = await w.connector.create_handoffs(w.http, [w.request(i) for i in range(150)])
        w.http.calls.clear()
        facts = await w.connector.read_handoffs(
            w.http, [ref(w, i, a.task_id) for i, a in enumerate(created)]
        )
        assert all(f.found and f.facts["task.done"] is False for f in facts)
        assert dict(w.http.calls) == {
            "POST /crm/v3/objects/tasks/batch/read": 2,
            "POST /crm/v3/objects/contacts/batch/read": 2,
        }
    finally:
        await w.http.aclose()


# -- the sandbox's side of the contract ----------------------------------------------------------


async def test_sandbox_lists_owners_and_enforces_them_on_contacts(world: World) -> None:
    answer = await world.http.get("/crm/v3/owners", params={"limit": 2})
    body = answer.json()
    assert [o["id"] for o in body["results"]] == ["61512301", "61512302"]
    assert body["paging"]["next"]["after"] == "2"
    assert {"email", "firstName", "lastName", "userId", "type"} <= set(body["results"][0])
    by_email = await world.http.get("/crm/v3/owners", params={"email": "emma.lind@example.com"})
    assert [o["id"] for o in by_email.json()["results"]] == ["61512305"]
    owners = {o["id"] for o in world.sandbox.owners()}
    for person in world.sandbox.people():
        raw = world.sandbox.portal.tables["contacts"].objects[int(person["id"])]
        assert raw.properties["hubspot_owner_id"] in owners

    inputs = [{"id": world.contacts[0], "properties": {"hubspot_owner_id": "42"}}]
    with pytest.raises(RecordError, match="not one of the allowed options"):
        await world.http.post("/crm/v3/objects/contacts/batch/update", json={"inputs": inputs})


async def test_sandbox_moves_the_lifecycle_stage_forward_only_unless_cleared(
    world: World,
) -> None:
    contact = world.contacts[0]

    async def write(stage: str) -> str | None:
        inputs = [{"id": contact, "properties": {"lifecyclestage": stage}}]
        response = await world.http.post(
            "/crm/v3/objects/contacts/batch/update", json={"inputs": inputs}
        )
        [result] = response.json()["results"]
        stored = world.sandbox.portal.tables["contacts"].objects[int(contact)]
        assert result["properties"]["lifecyclestage"] == stored.properties.get("lifecyclestage")
        value: str | None = stored.properties.get("lifecyclestage")
        return value

    assert await write("opportunity") == "opportunity"
    assert await write("lead") == "opportunity"  # backwards: kept, no error
    assert await write("customer") == "customer"  # forwards: fine
    assert await write("") is None  # cleared ...
    assert await write("lead") == "lead"  # ... then any stage
    # A human in HubSpot's UI may move it back.
    world.sandbox.edit_person(contact, lifecycle="subscriber")
    assert world.sandbox.people()[0]["lifecycle"] == "subscriber"


async def test_sandbox_batch_create_without_trace_ids_is_all_or_nothing(world: World) -> None:
    association = {
        "to": {"id": world.contacts[0]},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}],
    }
    good: dict[str, Any] = {
        "properties": {"hs_timestamp": "2025-03-04T15:30:00Z", "hs_task_subject": "ok"},
        "associations": [association],
    }
    bad = {**good, "properties": {"hs_task_subject": "no due date"}}
    raw = httpx.AsyncClient(
        base_url=world.url, headers={"Authorization": f"Bearer {world.sandbox.token}"}
    )
    async with raw:
        refused = await raw.post("/crm/v3/objects/tasks/batch/create", json={"inputs": [good, bad]})
        assert refused.status_code == 400
        assert refused.json()["category"] == "VALIDATION_ERROR"
        assert "hs_timestamp" in refused.json()["message"]
        assert world.sandbox.tasks() == []
        wrong_type = {**good, "associations": [{**association, "types": []}]}
        answer = await raw.post("/crm/v3/objects/tasks", json=wrong_type)
        assert answer.status_code == 400
        searched = await raw.post(
            "/crm/v3/objects/tasks/search",
            json={"filterGroups": [], "properties": ["hs_task_subject"], "limit": 10},
        )
        assert searched.status_code == 200 and searched.json()["total"] == 0
