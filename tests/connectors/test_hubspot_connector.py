"""The real HubSpot connector against its sandbox over loopback, and against its fixtures.

The shared conformance suite runs from test_hubspot_conformance.py on the same fixtures.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import respx

from smarketing_sync import AuthError, FieldSpec, FieldUpdate, Http, registry
from smarketing_sync.sdk.http import HttpSettings
from smarketing_sync.sdk.paths import get_path
from smarketing_sync.testing.population import SeedActivity, SeedPerson, ToolData
from smarketing_sync.testing.sandbox import SandboxServer

SCALE = 50.0  # vendor limits run 50 times faster, in the sandbox and in our limiter alike
FIXTURES = Path(__file__).parent / "fixtures" / "hubspot"
START = datetime(2025, 1, 1, tzinfo=UTC)
CUSTOM = [
    FieldSpec("smarketing_score", "smarketing score", "number"),
    FieldSpec("smarketing_score_band", "smarketing score band"),
    FieldSpec("smarketing_stage", "smarketing stage", "enumeration", ("lead", "mql", "sql")),
]

Connector = Any  # the loaded class; typed loosely because it comes from the folder registry


@pytest.fixture(scope="module")
def hubspot() -> Connector:
    return registry.load_connector("hubspot")


@pytest.fixture(scope="module")
def sandbox_module(hubspot: Connector) -> ModuleType:
    return registry.sandbox_module(hubspot)


def synthetic(n: int, *, notes: int = 0, same_time: int = 0) -> ToolData:
    """People one minute apart (the first ``same_time`` of them modified in one millisecond)."""
    people = []
    for i in range(n):
        modified = START if i < same_time else START + timedelta(minutes=i, seconds=30)
        people.append(
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
                created_at=START - timedelta(days=1),
                updated_at=modified,
            )
        )
    activities = [
        SeedActivity(i, i % n, "note", f"Note {i}", START + timedelta(seconds=i))
        for i in range(notes)
    ]
    return ToolData(people, activities)


class World:
    """A served sandbox and an Http client of the real connector pointed at it."""

    def __init__(self, cls: Connector, sandbox: Any, url: str, token: str | None = None) -> None:
        self.cls = cls
        self.connector = cls()
        self.sandbox = sandbox
        raw = sandbox.connector_settings(url)
        if token is not None:
            raw["access_token"] = token
        settings = cls.settings.model_validate(raw)
        self.http = Http(
            cls.name,
            url,
            self.connector.headers(settings),
            cls.rate_limit,
            HttpSettings(rate_limit_scale=SCALE, initial_backoff_s=0.05, max_backoff_s=0.5),
            errors=getattr(cls, "error_overrides", None),
        )

    async def pull(self, stream: str, since: datetime | None = None) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        async for page in self.connector.pull(self.http, stream, since):
            records.extend(page.records)
        return records

    def search_calls(self) -> int:
        return sum(n for kind, n in self.http.calls.items() if kind.endswith("/search"))


@pytest.fixture
def serve(hubspot: Connector, sandbox_module: ModuleType) -> Iterator[Any]:
    servers: list[SandboxServer] = []
    worlds: list[World] = []

    def start(data: ToolData, token: str | None = None) -> World:
        sandbox = sandbox_module.create_sandbox(data, time_scale=SCALE)
        server = SandboxServer(sandbox.app()).start()
        servers.append(server)
        world = World(hubspot, sandbox, server.url, token)
        worlds.append(world)
        return world

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
async def world(serve: Any) -> AsyncIterator[World]:
    w: World = serve(synthetic(300, notes=40))
    yield w
    await w.http.aclose()


# -- pull ------------------------------------------------------------------------------------


async def test_full_pull_of_more_than_10000_contacts_misses_and_repeats_nothing(
    serve: Any,
) -> None:
    count = 10_450
    w: World = serve(synthetic(count, same_time=30))
    try:
        records = await w.pull("contacts")
    finally:
        await w.http.aclose()
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == count
    assert set(ids) == {p["id"] for p in w.sandbox.people()}
    stamps = [r["properties"]["lastmodifieddate"] for r in records]
    assert stamps == sorted(stamps)  # Cursor.sorted holds: checkpoints after every page are safe
    # Each page is a new query from the last value seen, so no query reaches the 10,000 cap
    # (the sandbox would refuse it) and the calls stay at the minimum the page size implies.
    assert w.search_calls() <= math.ceil(count / 200) * 1.1
    assert w.sandbox.calls.calls["POST /crm/v3/objects/contacts/search"] == w.search_calls()


async def test_more_than_a_page_sharing_one_timestamp_is_read_once(serve: Any) -> None:
    w: World = serve(synthetic(700, same_time=450))
    # A second, small run of ties just after the big one: the first page read after it.
    for person in w.sandbox.people()[600:603]:
        w.sandbox.set_modified("contacts", person["id"], START + timedelta(seconds=1))
    try:
        records = await w.pull("contacts")
    finally:
        await w.http.aclose()
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == 700
    assert w.search_calls() <= 8  # 4 pages of 200, plus the tie run read in id order


async def test_incremental_pull_returns_what_changed_since(world: World) -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    people = world.sandbox.people()
    for person in people[10:13]:
        world.sandbox.edit_person(person["id"], city="Lisboa")
    changed = await world.pull("contacts", since=before)
    assert sorted(r["id"] for r in changed) == sorted(p["id"] for p in people[10:13])
    assert {r["properties"]["city"] for r in changed} == {"Lisboa"}
    # Seeded people 250..299 were modified after this moment, and the three just edited.
    assert len(await world.pull("contacts", since=START + timedelta(minutes=250))) == 53


async def test_activities_carry_their_contact_ids(world: World) -> None:
    notes = await world.pull("notes")
    expected = {a["id"]: a["person_ids"] for a in world.sandbox.activities()}
    assert {n["id"]: n["associations"]["contacts"] for n in notes} == expected
    assert world.http.calls["POST /crm/v4/associations/notes/contacts/batch/read"] == 1
    for stream in ("meetings", "calls", "emails"):
        assert await world.pull(stream) == []  # no such activities seeded; still a clean read


async def test_activity_calls_stay_within_a_tenth_of_the_minimum(serve: Any) -> None:
    count = 2_500
    w: World = serve(synthetic(50, notes=count))
    try:
        notes = await w.pull("notes")
    finally:
        await w.http.aclose()
    assert len({n["id"] for n in notes}) == count
    assert all(n["associations"]["contacts"] for n in notes)
    minimum = math.ceil(count / 200) + math.ceil(count / 1000)  # searches + association reads
    assert sum(w.http.calls.values()) <= minimum * 1.1
    # What the benchmarks read as the least the vendor allows: 1,000 activities per 6 calls.
    assert w.connector.page_size("notes") == 166 and w.connector.page_size("contacts") == 200
    assert sum(w.http.calls.values()) <= math.ceil(count / w.connector.page_size("notes")) * 1.1


# -- push ------------------------------------------------------------------------------------


async def test_push_250_updates_in_3_batches_isolates_the_invalid_one(serve: Any) -> None:
    w: World = serve(synthetic(260))
    people = w.sandbox.people()
    updates = [
        FieldUpdate(f"k{i}", p["id"], p["email"], {"jobtitle": f"Title {i}"})
        for i, p in enumerate(people[:250])
    ]
    updates[137] = FieldUpdate("bad", people[137]["id"], None, {"email": "not-an-email"})
    outcomes = []
    try:
        for start in range(0, 250, w.cls.push_batch_size):
            result = await w.connector.push(w.http, updates[start : start + w.cls.push_batch_size])
            outcomes.extend(result.outcomes)
    finally:
        await w.http.aclose()
    assert w.http.calls["POST /crm/v3/objects/contacts/batch/update"] == 3
    assert [o.key for o in outcomes] == [u.key for u in updates]
    failed = [o for o in outcomes if not o.ok]
    assert [o.key for o in failed] == ["bad"]
    assert "INVALID_EMAIL" in (failed[0].error or "") and not failed[0].retryable
    assert w.sandbox.person_by_email(people[249]["email"])["job_title"] == "Title 249"
    assert w.sandbox.person_by_email(people[137]["email"]) is not None


async def test_create_then_resend_with_attempt_2_creates_no_duplicate(world: World) -> None:
    values = {"firstname": "Ada", "lastname": "Lovelace", "company": "Analytical"}
    first = await world.connector.push(
        world.http, [FieldUpdate("c1", None, "Ada@Example.com", values)]
    )
    created = first.outcomes[0]
    assert created.ok and created.external_id
    count = len(world.sandbox.people())
    again = await world.connector.push(
        world.http, [FieldUpdate("c1", None, "ada@example.com", values, attempt=2)]
    )
    assert again.outcomes[0].ok and again.outcomes[0].external_id == created.external_id
    assert len(world.sandbox.people()) == count
    person = world.sandbox.person_by_email("ada@example.com")
    assert (person["first_name"], person["company"]) == ("Ada", "Analytical")


async def test_a_bad_create_is_isolated_from_the_rest_of_its_batch(world: World) -> None:
    creates = [
        FieldUpdate(f"n{i}", None, f"new{i}@example.com", {"city": "Oslo"}) for i in range(7)
    ]
    creates[4] = FieldUpdate("broken", None, "broken@@example", {"city": "Oslo"})
    creates.append(FieldUpdate("nomail", None, None, {"city": "Oslo"}))
    result = await world.connector.push(world.http, creates)
    by_key = {o.key: o for o in result.outcomes}
    assert not by_key["broken"].ok and "INVALID_EMAIL" in (by_key["broken"].error or "")
    assert not by_key["nomail"].ok
    assert all(by_key[f"n{i}"].ok for i in range(7) if i != 4)
    assert world.sandbox.person_by_email("new6@example.com")["city"] == "Oslo"
    # One batch refused as a whole, then halves until the bad input stands alone.
    assert world.http.calls["POST /crm/v3/objects/contacts/batch/upsert"] <= 7


async def test_a_missing_property_fails_only_the_inputs_that_write_it(world: World) -> None:
    creates = [
        FieldUpdate("a", None, "a@example.com", {"city": "Oslo"}),
        FieldUpdate("b", None, "b@example.com", {"smarketing_score": 10}),
        FieldUpdate("c", None, "c@example.com", {"city": "Rome"}),
    ]
    result = await world.connector.push(world.http, creates)
    assert [o.ok for o in result.outcomes] == [True, False, True]
    assert "smarketing_score" in (result.outcomes[1].error or "")
    assert world.http.calls["POST /crm/v3/objects/contacts/batch/upsert"] == 2


async def test_ensure_fields_creates_missing_properties_once(world: World) -> None:
    created = await world.connector.ensure_fields(world.http, CUSTOM)
    assert created == [spec.name for spec in CUSTOM]
    assert await world.connector.ensure_fields(world.http, CUSTOM) == []
    calls = world.sandbox.calls.calls
    assert calls["POST /crm/v3/properties/contacts/batch/create"] == 1
    assert calls["POST /crm/v3/properties/contacts/groups"] == 1
    assert calls["GET /crm/v3/properties/contacts"] == 2  # the second run only looks
    assert "smarketing_sync" in world.sandbox.portal.groups
    # One property deleted by hand: the next run recreates it; the group is already there.
    del world.sandbox.portal.properties["contacts"]["smarketing_score_band"]
    assert await world.connector.ensure_fields(world.http, CUSTOM) == ["smarketing_score_band"]
    stage = world.sandbox.portal.properties["contacts"]["smarketing_stage"]
    assert [o["value"] for o in stage.options] == ["lead", "mql", "sql"]
    person = world.sandbox.people()[0]
    update = FieldUpdate("s", person["id"], person["email"], {"smarketing_score": 87.0})
    assert (await world.connector.push(world.http, [update])).outcomes[0].ok
    assert world.sandbox.person_by_email(person["email"])["fields"]["smarketing_score"] == "87"


# -- auth and secrets ------------------------------------------------------------------------


async def test_a_wrong_token_is_an_auth_error_that_never_shows_the_token(
    serve: Any, hubspot: Connector
) -> None:
    w: World = serve(synthetic(2), token="pat-na1-wrong-and-secret")
    try:
        with pytest.raises(AuthError) as caught:
            await w.http.get(hubspot.check_path)
    finally:
        await w.http.aclose()
    assert "pat-na1-wrong-and-secret" not in str(caught.value)
    assert w.http.calls == {"GET /crm/v3/objects/contacts": 1}  # never retried
    settings = hubspot.settings.model_validate({"access_token": "pat-na1-secret"})
    assert "pat-na1-secret" not in repr(settings) and "pat-na1-secret" not in str(settings)


# -- the recorded fixtures replay through the connector --------------------------------------


def _has(expected: Any, actual: Any, where: str = "body") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, found {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} missing"
            _has(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r}"
        for i, (want, have) in enumerate(zip(expected, actual, strict=True)):
            _has(want, have, f"{where}.{i}")
    else:
        assert actual == expected, f"{where}: expected {expected!r}, found {actual!r}"


def _replay(router: respx.MockRouter, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pending = list(requests)

    def answer(request: httpx.Request) -> httpx.Response:
        assert pending, f"unexpected request {request.method} {request.url.path}"
        expected = pending.pop(0)
        assert (request.method, request.url.path) == (expected["method"], expected["path"])
        _has(expected.get("json_has", {}), json.loads(request.content or b"null"))
        return httpx.Response(
            expected["status"], json=expected["body"], headers=expected.get("headers")
        )

    router.route().mock(side_effect=answer)
    return pending


def _http(cls: Connector) -> Http:
    settings = cls.settings.model_validate({"access_token": "fixture-token"})
    return Http(cls.name, "https://api.hubapi.com", cls().headers(settings), cls.rate_limit)


@pytest.mark.parametrize("stream", ["contacts", "meetings", "calls", "notes", "emails"])
async def test_stream_fixture_replays(hubspot: Connector, stream: str) -> None:
    fixture = json.loads((FIXTURES / f"{stream}.json").read_text())
    since = fixture["since"]
    records: list[dict[str, Any]] = []
    with respx.mock(base_url="https://api.hubapi.com") as router:
        pending = _replay(router, fixture["requests"])
        async with _http(hubspot) as http:
            moment = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
            async for page in hubspot().pull(http, stream, moment):
                records.extend(page.records)
    assert pending == []
    assert len(records) == fixture["expect"]["records"]
    cursor = hubspot.streams[stream].cursor.field
    assert get_path(records[-1], cursor) == fixture["expect"]["max_cursor"]


async def test_push_fixture_replays(hubspot: Connector) -> None:
    fixture = json.loads((FIXTURES / "push_contacts.json").read_text())
    updates = [FieldUpdate(**u) for u in fixture["updates"]]
    with respx.mock(base_url="https://api.hubapi.com") as router:
        pending = _replay(router, fixture["requests"])
        async with _http(hubspot) as http:
            result = await hubspot().push(http, updates)
    assert pending == []
    outcomes = {o.key: o for o in result.outcomes}
    expect = fixture["expect"]
    assert all(outcomes[k].ok for k in expect["ok"])
    assert all(not outcomes[k].ok for k in expect["failed"])
    for key, new_id in expect["created"].items():
        assert outcomes[key].ok and outcomes[key].external_id == new_id
