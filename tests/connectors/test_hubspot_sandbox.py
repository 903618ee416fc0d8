"""The HubSpot sandbox honours HubSpot's published contract (paths, shapes, limits, errors)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import httpx
import pytest

from smarketing_sync import registry
from smarketing_sync.testing.population import Population, SeedActivity, SeedPerson, ToolData

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
START = datetime(2025, 1, 1, tzinfo=UTC)
SEARCH = "/crm/v3/objects/contacts/search"


@pytest.fixture(scope="module")
def sandbox_module() -> ModuleType:
    return registry.sandbox_module(registry.load_connector("hubspot"))


def synthetic(n: int, *, activities: bool = False) -> ToolData:
    """People without Faker (fast for thousands), one minute apart, optionally one note each."""
    people = [
        SeedPerson(
            key=i,
            email=f"person{i}@example.com",
            first_name=f"First{i}",
            last_name=f"Last{i}",
            company="Acme",
            job_title="Engineer",
            phone="+4930123456",
            country="DE",
            city="Berlin",
            created_at=START + timedelta(minutes=i),
            updated_at=START + timedelta(minutes=i, seconds=30),
        )
        for i in range(n)
    ]
    notes = [
        SeedActivity(i, i, "note", f"Note {i}", START + timedelta(minutes=i, seconds=40))
        for i in range(n)
        if activities
    ]
    return ToolData(people, notes)


def ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


async def client_for(sandbox: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=sandbox.app())
    return httpx.AsyncClient(transport=transport, base_url="http://hubspot.sandbox", headers=AUTH)


@pytest.fixture
async def small(sandbox_module: ModuleType) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    sandbox = sandbox_module.create_sandbox(synthetic(450, activities=True), time_scale=1000)
    async with await client_for(sandbox) as client:
        yield sandbox, client


def search_body(**extra: Any) -> dict[str, Any]:
    return {
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["email", "firstname", "lastmodifieddate"],
        "limit": 200,
        **extra,
    }


def gte(value: str, prop: str = "lastmodifieddate", op: str = "GTE") -> list[dict[str, Any]]:
    return [{"filters": [{"propertyName": prop, "operator": op, "value": value}]}]


# -- auth ------------------------------------------------------------------------------------


async def test_wrong_or_missing_token_is_401_with_hubspots_body(
    small: tuple[Any, httpx.AsyncClient],
) -> None:
    _, client = small
    for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": ""}):
        response = await client.get("/crm/v3/objects/contacts", headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert body["status"] == "error"
        assert body["category"] == "INVALID_AUTHENTICATION"
        assert body["correlationId"] and "Authentication credentials not found" in body["message"]
    assert (await client.get("/crm/v3/objects/contacts?limit=1")).status_code == 200


# -- search ----------------------------------------------------------------------------------


async def test_search_pages_with_after_and_returns_hubspots_shapes(
    small: tuple[Any, httpx.AsyncClient],
) -> None:
    sandbox, client = small
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        body = search_body(**({"after": after} if after else {}))
        answer = (await client.post(SEARCH, json=body)).json()
        assert answer["total"] == 450
        seen.extend(r["id"] for r in answer["results"])
        pages += 1
        after = (answer.get("paging") or {}).get("next", {}).get("after")
        if after is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 450
    record = answer["results"][-1]
    assert set(record) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert record["archived"] is False
    props = record["properties"]
    # Strings only, dates as ISO 8601 with milliseconds and Z; the defaults always come back.
    assert set(props) == {"email", "firstname", "lastmodifieddate", "hs_object_id", "createdate"}
    assert all(isinstance(v, str) for v in props.values())
    assert props["lastmodifieddate"].endswith("Z") and props["lastmodifieddate"][-5] == "."
    assert props["lastmodifieddate"] == record["updatedAt"]
    assert seen[0] == min(p["id"] for p in sandbox.people())  # seeded in ascending order


async def test_search_filters_on_dates_ids_and_text(small: tuple[Any, httpx.AsyncClient]) -> None:
    _, client = small
    tenth = START + timedelta(minutes=10, seconds=30)  # person 10's lastmodifieddate

    async def ids(groups: list[dict[str, Any]], **extra: Any) -> list[str]:
        answer = (await client.post(SEARCH, json=search_body(filterGroups=groups, **extra))).json()
        return [r["id"] for r in answer["results"]]

    everything = await ids([])
    assert (await ids(gte(ms(tenth))))[0] == everything[10]
    assert (await ids(gte(ms(tenth), op="GT")))[0] == everything[11]
    assert await ids(gte(tenth.isoformat().replace("+00:00", "Z"), op="EQ")) == [everything[10]]
    assert await ids(gte(ms(tenth), op="LT")) == everything[:10]
    assert await ids(gte("PERSON7@EXAMPLE.COM", prop="email", op="EQ")) == [everything[7]]
    after_id = await ids(gte(everything[197], prop="hs_object_id", op="GT"))
    assert after_id[:2] == everything[198:200] and len(after_id) == 200
    between = [
        {
            "filters": [
                {
                    "propertyName": "lastmodifieddate",
                    "operator": "BETWEEN",
                    "value": ms(tenth),
                    "highValue": ms(tenth + timedelta(minutes=2)),
                }
            ]
        }
    ]
    assert await ids(between) == everything[10:13]
    descending = await ids([], sorts=[{"propertyName": "hs_object_id", "direction": "DESCENDING"}])
    assert descending[:3] == ["1450", "1449", "1448"]  # 450 contacts, ids from 1001


@pytest.mark.parametrize(
    "change",
    [
        {"limit": 201},
        {"filterGroups": [{"filters": []}] * 6},
        {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 7}
            ]
        },
        {"filterGroups": gte("x", prop="no_such_property", op="EQ")},
        {"filterGroups": gte("1", op="SOUNDS_LIKE")},
        {"sorts": ["email", "firstname"]},
        {"after": "abc"},
    ],
    ids=["limit", "groups", "filters", "property", "operator", "two-sorts", "after"],
)
async def test_invalid_search_is_a_400_validation_error(
    small: tuple[Any, httpx.AsyncClient], change: dict[str, Any]
) -> None:
    _, client = small
    response = await client.post(SEARCH, json=search_body(**change))
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


async def test_search_stops_at_the_10000_result_cap(sandbox_module: ModuleType) -> None:
    sandbox = sandbox_module.create_sandbox(synthetic(10_050), time_scale=1000)
    async with await client_for(sandbox) as client:
        answer = (await client.post(SEARCH, json=search_body(after="9800"))).json()
        assert answer["total"] == 10_050 and len(answer["results"]) == 200
        assert answer["paging"]["next"]["after"] == "10000"  # offered, then refused
        refused = await client.post(SEARCH, json=search_body(after="10000"))
        assert refused.status_code == 400
        assert refused.json()["category"] == "VALIDATION_ERROR"
        assert "10,000" in refused.json()["message"]
        # The same records are reachable by restarting from the last value seen.
        last = answer["results"][-1]["properties"]["lastmodifieddate"]
        rest = (await client.post(SEARCH, json=search_body(filterGroups=gte(last)))).json()
        assert rest["total"] == 10_050 - 9_999


# -- writes ----------------------------------------------------------------------------------


async def test_batch_limit_is_100_and_ids_must_be_unique(
    small: tuple[Any, httpx.AsyncClient],
) -> None:
    sandbox, client = small
    ids = [p["id"] for p in sandbox.people()]
    too_many = {"inputs": [{"id": i, "properties": {"city": "Oslo"}} for i in ids[:101]]}
    response = await client.post("/crm/v3/objects/contacts/batch/update", json=too_many)
    assert response.status_code == 400 and response.json()["category"] == "VALIDATION_ERROR"
    twice = {"inputs": [{"id": ids[0], "properties": {"city": "Oslo"}}] * 2}
    response = await client.post("/crm/v3/objects/contacts/batch/update", json=twice)
    assert response.status_code == 400 and "Duplicate IDs" in response.json()["message"]
    assert all(p["city"] == "Berlin" for p in sandbox.people())


async def test_batch_update_with_trace_ids_answers_207_per_record(
    small: tuple[Any, httpx.AsyncClient],
) -> None:
    sandbox, client = small
    people = sandbox.people()
    before = {p["id"]: p["updated_at"] for p in people}
    inputs = [
        {"id": people[0]["id"], "properties": {"jobtitle": "CTO"}, "objectWriteTraceId": "ok-1"},
        {"id": people[1]["id"], "properties": {"email": "nope"}, "objectWriteTraceId": "bad-email"},
        {
            "id": people[2]["id"],
            "properties": {"shoe_size": "44"},
            "objectWriteTraceId": "bad-prop",
        },
        {"id": "999999", "properties": {"city": "Rome"}, "objectWriteTraceId": "no-such-id"},
        {"id": people[3]["id"], "properties": {"city": ""}, "objectWriteTraceId": "ok-2"},
    ]
    response = await client.post("/crm/v3/objects/contacts/batch/update", json={"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert body["status"] == "COMPLETE" and body["numErrors"] == 3
    assert sorted(r["objectWriteTraceId"] for r in body["results"]) == ["ok-1", "ok-2"]
    errors = {e["context"]["objectWriteTraceId"][0]: e for e in body["errors"]}
    assert errors["bad-email"]["category"] == "VALIDATION_ERROR"
    assert "INVALID_EMAIL" in errors["bad-email"]["message"]
    assert "PROPERTY_DOESNT_EXIST" in errors["bad-prop"]["message"]
    assert errors["no-such-id"]["category"] == "OBJECT_NOT_FOUND"
    after = {p["id"]: p for p in sandbox.people()}
    assert after[people[0]["id"]]["job_title"] == "CTO"
    assert after[people[3]["id"]]["city"] is None  # an empty string clears a property
    assert after[people[0]["id"]]["updated_at"] > before[people[0]["id"]]
    assert after[people[1]["id"]]["updated_at"] == before[people[1]["id"]]


async def test_batch_update_without_trace_ids_refuses_the_whole_batch(
    small: tuple[Any, httpx.AsyncClient],
) -> None:
    sandbox, client = small
    people = sandbox.people()
    inputs = [
        {"id": people[0]["id"], "properties": {"jobtitle": "CTO"}},
        {"id": people[1]["id"], "properties": {"testproperty": "1"}},
    ]
    response = await client.post("/crm/v3/objects/contacts/batch/update", json={"inputs": inputs})
    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR" and body["correlationId"]
    assert body["message"].startswith("Property values were not valid: [")
    assert body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    assert body["errors"][0]["context"] == {"propertyName": ["testproperty"]}
    assert sandbox.person_by_email(people[0]["email"])["job_title"] == "Engineer"


async def test_upsert_by_email_creates_or_updates_and_is_all_or_nothing(
    small: tuple[Any, httpx.AsyncClient],
) -> None:
    sandbox, client = small
    path = "/crm/v3/objects/contacts/batch/upsert"
    inputs = [
        {"id": "New.Person@Example.com", "idProperty": "email", "properties": {"firstname": "New"}},
        {"id": " PERSON3@example.com", "idProperty": "email", "properties": {"city": "Lyon"}},
    ]
    body = (await client.post(path, json={"inputs": inputs})).json()
    new, existing = body["results"]
    assert new["new"] is True and existing["new"] is False
    assert existing["id"] == sandbox.person_by_email("person3@example.com")["id"]
    assert sandbox.person_by_email("new.person@example.com")["first_name"] == "New"
    count = len(sandbox.people())
    again = (await client.post(path, json={"inputs": inputs[:1]})).json()
    assert again["results"][0]["id"] == new["id"] and len(sandbox.people()) == count
    bad = [
        {"id": "fine@example.com", "idProperty": "email", "properties": {}},
        {"id": "not an email", "idProperty": "email", "properties": {}},
    ]
    response = await client.post(path, json={"inputs": bad})
    assert response.status_code == 400 and "INVALID_EMAIL" in response.json()["message"]
    assert sandbox.person_by_email("fine@example.com") is None
    no_id_property = [{"id": "x@example.com", "properties": {}}]
    response = await client.post(path, json={"inputs": no_id_property})
    assert response.status_code == 400


async def test_custom_properties_must_exist_before_they_are_written(
    small: tuple[Any, httpx.AsyncClient],
) -> None:
    sandbox, client = small
    person = sandbox.people()[0]
    write = {"inputs": [{"id": person["id"], "properties": {"smarketing_score": "12"}}]}
    refused = await client.post("/crm/v3/objects/contacts/batch/update", json=write)
    assert refused.status_code == 400 and "PROPERTY_DOESNT_EXIST" in refused.json()["message"]
    prop = {
        "name": "smarketing_score",
        "label": "Score",
        "type": "number",
        "fieldType": "number",
        "groupName": "smarketing_sync",
    }
    no_group = await client.post("/crm/v3/properties/contacts", json=prop)
    assert no_group.status_code == 400
    group = {"name": "smarketing_sync", "label": "smarketing-sync", "displayOrder": -1}
    assert (await client.post("/crm/v3/properties/contacts/groups", json=group)).status_code == 201
    assert (await client.post("/crm/v3/properties/contacts/groups", json=group)).status_code == 409
    created = await client.post("/crm/v3/properties/contacts", json=prop)
    assert created.status_code == 201 and created.json()["hubspotDefined"] is False
    duplicate = await client.post("/crm/v3/properties/contacts", json=prop)
    assert duplicate.status_code == 409 and duplicate.json()["category"] == "OBJECT_ALREADY_EXISTS"
    wrong_field_type = {**prop, "name": "smarketing_band", "type": "string"}
    assert (
        await client.post("/crm/v3/properties/contacts", json=wrong_field_type)
    ).status_code == 400
    listed = (await client.get("/crm/v3/properties/contacts")).json()["results"]
    assert "smarketing_score" in {p["name"] for p in listed}
    assert (
        await client.post("/crm/v3/objects/contacts/batch/update", json=write)
    ).status_code == 200
    assert sandbox.person_by_email(person["email"])["fields"] == {"smarketing_score": "12"}
    batch = {
        "inputs": [
            prop,  # exists by now
            {**prop, "name": "smarketing_stage", "type": "string", "fieldType": "text"},
        ]
    }
    response = await client.post("/crm/v3/properties/contacts/batch/create", json=batch)
    assert response.status_code == 207
    assert [p["name"] for p in response.json()["results"]] == ["smarketing_stage"]
    assert response.json()["errors"][0]["category"] == "OBJECT_ALREADY_EXISTS"
    bad_number = {"inputs": [{"id": person["id"], "properties": {"smarketing_score": "lots"}}]}
    response = await client.post("/crm/v3/objects/contacts/batch/update", json=bad_number)
    assert response.status_code == 400 and "INVALID_INTEGER" in response.json()["message"]


async def test_every_write_bumps_lastmodifieddate(small: tuple[Any, httpx.AsyncClient]) -> None:
    sandbox, client = small
    person = sandbox.people()[5]
    stamps = [person["updated_at"]]
    for title in ("A", "B"):
        sandbox.edit_person(person["id"], job_title=title)
        stamps.append(sandbox.person_by_email(person["email"])["updated_at"])
    write = {"inputs": [{"id": person["id"], "properties": {"jobtitle": "C"}}]}
    await client.post("/crm/v3/objects/contacts/batch/update", json=write)
    stamps.append(sandbox.person_by_email(person["email"])["updated_at"])
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    after = gte(ms(stamps[1]), op="GT")
    answer = (await client.post(SEARCH, json=search_body(filterGroups=after))).json()
    assert [r["id"] for r in answer["results"]] == [person["id"]]


# -- associations ----------------------------------------------------------------------------


async def test_associations_batch_read_pages_and_reports_missing(
    small: tuple[Any, httpx.AsyncClient],
) -> None:
    sandbox, client = small
    sandbox.api.association_page_size = 2
    person_ids = [p["id"] for p in sandbox.people()[:3]]
    note = sandbox.activities()[0]
    lonely = sandbox.add_activity(person_ids[0], "note", "Only one")
    # A note on three people: a page of two, then the rest with the returned `after`.
    obj = sandbox.portal.tables["notes"].objects[int(note["id"])]
    obj.contact_ids = [int(i) for i in person_ids]
    path = "/crm/v4/associations/notes/contacts/batch/read"
    response = await client.post(path, json={"inputs": [{"id": note["id"]}, {"id": "123"}]})
    assert response.status_code == 207
    body = response.json()
    first = body["results"][0]
    assert [t["toObjectId"] for t in first["to"]] == [int(i) for i in person_ids[:2]]
    assert first["to"][0]["associationTypes"] == [
        {"category": "HUBSPOT_DEFINED", "typeId": 202, "label": None}
    ]
    error = body["errors"][0]
    assert error["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert error["context"]["fromObjectId"] == ["123"]
    after = first["paging"]["next"]["after"]
    rest = await client.post(path, json={"inputs": [{"id": note["id"], "after": after}]})
    assert rest.status_code == 200
    assert [t["toObjectId"] for t in rest.json()["results"][0]["to"]] == [int(person_ids[2])]
    single = (await client.post(path, json={"inputs": [{"id": lonely}]})).json()
    assert single["results"][0]["to"][0]["toObjectId"] == int(person_ids[0])
    too_many = {"inputs": [{"id": str(i)} for i in range(1001)]}
    assert (await client.post(path, json=too_many)).status_code == 400


# -- rate limits -----------------------------------------------------------------------------


async def test_ten_secondly_limit_answers_429_with_headers(sandbox_module: ModuleType) -> None:
    # time_scale 2: the 100-per-10-seconds window lasts 5 s, far longer than 101 local calls.
    sandbox = sandbox_module.create_sandbox(synthetic(3), time_scale=2)
    async with await client_for(sandbox) as client:
        answers = [await client.get("/crm/v3/objects/contacts?limit=1") for _ in range(101)]
    assert [a.status_code for a in answers[:100]] == [200] * 100
    first, last_ok, limited = answers[0], answers[99], answers[100]
    assert first.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "99"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "5000"
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "250000"
    assert last_ok.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert limited.status_code == 429
    body = limited.json()
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert limited.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert sandbox.calls.throttled == 1
    assert sandbox.calls.calls["GET /crm/v3/objects/contacts"] == 101


async def test_search_limit_is_five_per_second_without_headers(sandbox_module: ModuleType) -> None:
    sandbox = sandbox_module.create_sandbox(synthetic(3), time_scale=5)  # window: 0.2 s
    async with await client_for(sandbox) as client:
        answers = [await client.post(SEARCH, json=search_body()) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        assert answers[5].json()["policyName"] == "SECONDLY"
        assert not [h for h in answers[0].headers if h.lower().startswith("x-hubspot-ratelimit")]
        await asyncio.sleep(0.25)
        assert (await client.post(SEARCH, json=search_body())).status_code == 200
    assert sandbox.calls.throttled == 1


# -- the tool-neutral helpers ----------------------------------------------------------------


def test_seeding_is_deterministic_and_complete(sandbox_module: ModuleType) -> None:
    population = Population.generate(("hubspot", "pipedrive"), n_per_tool=40, seed=5)
    data = population.for_tool("hubspot")
    first = sandbox_module.create_sandbox(data)
    second = sandbox_module.create_sandbox(data)
    assert first.people() == second.people() and first.activities() == second.activities()
    assert len(first.people()) == len(data.people)
    assert len(first.activities()) == len(data.activities)
    by_email = {p["email"]: p for p in first.people()}
    for person in data.people:
        view = by_email[person.email.strip().lower()]
        assert (view["first_name"], view["last_name"]) == (person.first_name, person.last_name)
        assert view["updated_at"] == person.updated_at.replace(
            microsecond=person.updated_at.microsecond // 1000 * 1000
        )
    stages = {p["lifecycle"] for p in first.people()}
    assert {"subscriber", "lead", "marketingqualifiedlead"} <= stages
    ids = {p["id"] for p in first.people()}
    assert all(a["person_ids"] and set(a["person_ids"]) <= ids for a in first.activities())


def test_neutral_helpers_find_edit_and_add(sandbox_module: ModuleType) -> None:
    sandbox = sandbox_module.create_sandbox(synthetic(5))
    person = sandbox.person_by_email("  PERSON2@Example.COM ")
    assert person is not None and person["first_name"] == "First2"
    sandbox.edit_person(person["id"], job_title="Head of Growth", last_name="Okafor")
    edited = sandbox.person_by_email("person2@example.com")
    assert (edited["job_title"], edited["last_name"]) == ("Head of Growth", "Okafor")
    assert edited["updated_at"] > person["updated_at"]
    new_id = sandbox.add_person("Fresh@Example.com", first_name="Fresh")
    assert sandbox.person_by_email("fresh@example.com")["id"] == new_id
    with pytest.raises(ValueError, match="already exists"):
        sandbox.add_person("fresh@example.com")
    with pytest.raises(ValueError, match="INVALID_EMAIL"):
        sandbox.edit_person(new_id, email="broken")
    activity = sandbox.add_activity(new_id, "meeting", "Kick-off")
    listed = {a["id"]: a for a in sandbox.activities()}
    assert listed[activity]["person_ids"] == [new_id] and listed[activity]["type"] == "meeting"
    assert listed[activity]["subject"] == "Kick-off"
    assert sandbox.connector_settings("http://127.0.0.1:1") == {
        "access_token": TOKEN,
        "base_url": "http://127.0.0.1:1",
    }


async def test_ties_on_lastmodifieddate_are_ordered_by_id(
    small: tuple[Any, httpx.AsyncClient],
) -> None:
    sandbox, client = small
    people = sandbox.people()
    moment = START + timedelta(days=30)
    for person in (people[40], people[7], people[300]):
        sandbox.set_modified("contacts", person["id"], moment)
    answer = await client.post(SEARCH, json=search_body(filterGroups=gte(ms(moment), op="EQ")))
    ids = [r["id"] for r in answer.json()["results"]]
    assert ids == sorted((people[7]["id"], people[40]["id"], people[300]["id"]), key=int)
    assert sandbox.person_by_email(people[7]["email"])["updated_at"] == moment
