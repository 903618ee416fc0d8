"""The real Pipedrive connector against its sandbox over loopback.

The conformance kit runs on the recorded fixtures in ``test_pipedrive_conformance.py``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from smarketing_sync import AuthError, FieldSpec, FieldUpdate, Http
from smarketing_sync.mapping.load import load_mapping
from smarketing_sync.registry import sandbox_module
from smarketing_sync.sdk.http import HttpSettings
from smarketing_sync.testing import load_connector
from smarketing_sync.testing.population import Population, ToolData
from smarketing_sync.testing.sandbox import RateWindow, SandboxServer

PIPEDRIVE = load_connector("pipedrive")
PACKAGE = PIPEDRIVE.__module__.rsplit(".", 1)[0]
SANDBOX = sandbox_module(PIPEDRIVE)
PUSH_CONCURRENCY: int = importlib.import_module(f"{PACKAGE}.push").PUSH_CONCURRENCY
SCALE = 50.0  # compresses Pipedrive's 2-second burst windows for both sides


@pytest.fixture(scope="module")
def crm() -> ToolData:
    return Population.generate(("hubspot", "pipedrive"), n_per_tool=3_000, seed=5).for_tool(
        "pipedrive"
    )


class CountingTransport(httpx.AsyncBaseTransport):
    """Loopback transport that records how many requests are in flight at once."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def connected(
    sandbox: Any,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    token: str | None = None,
    **http: Any,
) -> AsyncIterator[tuple[Any, Http]]:
    """The connector and an Http client wired to ``sandbox`` served on 127.0.0.1."""
    with SandboxServer(sandbox.app()) as server:
        raw = sandbox.connector_settings(server.url)
        if token is not None:
            raw["api_token"] = token
        settings = PIPEDRIVE.settings.model_validate(raw)
        options = {"rate_limit_scale": SCALE, "max_backoff_s": 0.2, "initial_backoff_s": 0.02}
        async with Http(
            PIPEDRIVE.name,
            server.url,
            PIPEDRIVE().headers(settings),
            PIPEDRIVE.rate_limit,
            HttpSettings(**{**options, **http}),
            errors=getattr(PIPEDRIVE, "error_overrides", None),
            transport=transport,
        ) as client:
            yield PIPEDRIVE(), client


async def pull_all(
    connector: Any, http: Http, stream: str, since: datetime | None = None
) -> list[dict[str, Any]]:
    return [
        dict(r)
        for page in [p async for p in connector.pull(http, stream, since)]
        for r in page.records
    ]


async def test_full_pull_has_every_person_once(crm: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(crm, time_scale=SCALE)
    async with connected(sandbox) as (connector, http):
        records = await pull_all(connector, http, "persons")
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == 3_000
    assert set(ids) == {int(p["id"]) for p in sandbox.people()}
    stamps = [r["update_time"] for r in records]
    assert stamps == sorted(stamps), "pages come oldest first, so each page can be checkpointed"
    by_email = {p["email"]: p for p in sandbox.people()}
    assert all(r["primary_email"] in by_email for r in records)
    assert http.calls["GET /api/v2/personFields"] == 1
    assert http.calls["GET /api/v2/persons"] == 6  # 3,000 at the 500 maximum per page
    assert sandbox.token_in_query == 0 and sandbox.ignored_params == set()


async def test_incremental_pull_returns_changes_and_boundary_ties(crm: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(crm, time_scale=SCALE)
    async with connected(sandbox) as (connector, http):
        first = await pull_all(connector, http, "persons")
        newest = max(datetime.fromisoformat(r["update_time"]) for r in first)
        edited = [p["id"] for p in sandbox.people()[:3]]
        for person_id in edited:
            sandbox.edit_person(person_id, last_name="Changed")
        again = await pull_all(connector, http, "persons", since=newest)
    returned = {str(r["id"]): r for r in again}
    assert set(edited) <= set(returned)
    assert all(returned[i]["last_name"] == "Changed" for i in edited)
    boundary = {str(r["id"]) for r in first if datetime.fromisoformat(r["update_time"]) == newest}
    assert boundary <= set(returned), "updated_since is inclusive: ties at the cursor come back"
    assert all(datetime.fromisoformat(r["update_time"]) >= newest for r in again)
    assert len(again) == len(set(edited) | boundary)


async def test_custom_fields_arrive_keyed_by_name_with_labels(crm: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(crm, time_scale=SCALE)
    async with connected(sandbox) as (connector, http):
        persons = await pull_all(connector, http, "persons")
        deals = await pull_all(connector, http, "deals")
    titles = {p["email"]: p["job_title"] for p in sandbox.people()}
    for record in persons:
        assert set(record["custom_fields"]) == {"Job title", "Lead source"}
        assert record["custom_fields"]["Job title"] == titles[record["primary_email"]]
        assert record["custom_fields"]["Lead source"] in {
            "Website",
            "Referral",
            "Event",
            "Outbound",
        }
    assert {d["custom_fields"]["Deal type"] for d in deals} == {"New business", "Upsell"}


async def test_activities_and_deals_carry_person_ids(crm: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(crm, time_scale=SCALE)
    async with connected(sandbox) as (connector, http):
        persons = {r["id"] for r in await pull_all(connector, http, "persons")}
        activities = await pull_all(connector, http, "activities")
        deals = await pull_all(connector, http, "deals")
    assert len(activities) == len(crm.activities)
    assert all(a["person_ids"] and set(a["person_ids"]) <= persons for a in activities)
    assert all(a["occurred_at"].startswith(a["due_date"]) for a in activities)
    assert len(deals) == len(crm.deals)
    assert all(d["person_id"] in persons for d in deals)
    by_status = {s: [d for d in deals if d["status"] == s] for s in ("open", "won", "lost")}
    assert all(d["won_time"] and d["value"] > 0 and d["currency"] for d in by_status["won"])
    assert all(d["lost_time"] and d["lost_reason"] for d in by_status["lost"])
    assert all(d["won_time"] is None and d["lost_time"] is None for d in by_status["open"])


async def test_push_120_updates_with_bounded_concurrency_isolates_the_invalid_one(
    crm: ToolData,
) -> None:
    sandbox = SANDBOX.create_sandbox(crm, time_scale=SCALE)
    people = sandbox.people()[:120]
    updates = [
        FieldUpdate(f"k{i}", p["id"], p["email"], {"smarketing score": i, "last_name": f"L{i}"})
        for i, p in enumerate(people)
    ]
    # Pipedrive refuses a person whose first and last names are both empty.
    updates[57] = FieldUpdate("k57", people[57]["id"], None, {"first_name": "", "last_name": ""})
    transport = CountingTransport()
    async with connected(sandbox, transport=transport, max_concurrency=16) as (connector, http):
        await connector.ensure_fields(
            http, [FieldSpec("smarketing score", "smarketing score", "number")]
        )
        size = PIPEDRIVE.push_batch_size
        outcomes = []
        for start in range(0, len(updates), size):
            result = await connector.push(http, updates[start : start + size])
            outcomes.extend(result.outcomes)
    assert [o.key for o in outcomes] == [u.key for u in updates]
    failed = [o for o in outcomes if not o.ok]
    assert [o.key for o in failed] == ["k57"]
    assert "first_name" in (failed[0].error or "") and not failed[0].retryable
    assert 1 < transport.max_in_flight <= PUSH_CONCURRENCY
    after = {p["id"]: p for p in sandbox.people()}
    assert after[people[3]["id"]]["fields"]["smarketing score"] == 3
    assert after[people[3]["id"]]["last_name"] == "L3"
    assert after[people[3]["id"]]["first_name"] == people[3]["first_name"]
    assert after[people[57]["id"]]["last_name"] == people[57]["last_name"]


async def test_create_then_resend_with_attempt_2_creates_no_duplicate(crm: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(crm, time_scale=SCALE)
    values = {"first_name": "Inés", "last_name": "García", "phone": "+34600111222"}
    email = "ines.garcia@example.com"
    async with connected(sandbox) as (connector, http):
        first = await connector.push(http, [FieldUpdate("c1", None, email, values)])
        again = await connector.push(http, [FieldUpdate("c1", None, email, values, attempt=2)])
        fresh = await connector.push(
            http, [FieldUpdate("c2", None, "new.one@example.com", {"first_name": "New"}, attempt=2)]
        )
    assert first.outcomes[0].ok and again.outcomes[0].ok
    assert again.outcomes[0].external_id == first.outcomes[0].external_id
    matching = [p for p in sandbox.people() if p["email"] == email]
    assert len(matching) == 1
    assert (matching[0]["first_name"], matching[0]["phone"]) == ("Inés", "+34600111222")
    assert fresh.outcomes[0].ok and sandbox.person_by_email("new.one@example.com") is not None
    assert http.calls["POST /api/v2/persons"] == 2
    assert http.calls["GET /api/v2/persons/search"] == 2


async def test_email_change_keeps_the_other_addresses(crm: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(crm, time_scale=SCALE)
    person = sandbox.people()[0]
    with sandbox.lock:
        record = sandbox.persons.records[int(person["id"])]
        record.emails.append({"value": "home@example.com", "primary": False, "label": "home"})
    async with connected(sandbox) as (connector, http):
        result = await connector.push(
            http, [FieldUpdate("e1", person["id"], None, {"email": "new.work@example.com"})]
        )
    assert result.outcomes[0].ok
    assert record.emails == [
        {"value": "new.work@example.com", "primary": True, "label": "work"},
        {"value": "home@example.com", "primary": False, "label": "home"},
    ]


async def test_ensure_fields_creates_missing_fields_once(crm: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(crm, time_scale=SCALE)
    spec = load_mapping(Path("mappings/pipedrive.toml")).push["contacts"].create
    async with connected(sandbox) as (connector, http):
        created = await connector.ensure_fields(http, list(spec))
        again = await connector.ensure_fields(http, list(spec))
    assert sorted(created) == sorted(s.name for s in spec if s.name != "Job title")
    assert again == []
    names = [f.name for f in sandbox.person_fields.custom()]
    assert sorted(names) == sorted({*names}), "no field was created twice"
    score = sandbox.custom_field("smarketing score")
    assert (
        score is not None and score.type == "double" and re.fullmatch(r"[0-9a-f]{40}", score.code)
    )


async def test_rate_limited_pull_waits_and_completes(crm: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(crm, time_scale=SCALE)
    # 2 requests per 0.4 s, far below the plan the connector assumes: two consecutive pages
    # always exhaust the window, so the client must wait for it (or take a 429) and go on.
    sandbox.burst = RateWindow(2, 2.0, 5.0)
    async with connected(sandbox) as (connector, http):
        activities = await pull_all(connector, http, "activities")
    assert len(activities) == len(crm.activities)
    assert sandbox.calls.throttled > 0 or http.retries["provider_remaining"] > 0


async def test_wrong_token_is_an_auth_error(crm: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(crm, time_scale=SCALE)
    async with connected(sandbox, token="revoked-token") as (connector, http):
        with pytest.raises(AuthError) as caught:
            await pull_all(connector, http, "persons")
    assert "revoked-token" not in str(caught.value)


async def test_transient_failure_of_one_request_is_retryable_for_that_update_only(
    crm: ToolData,
) -> None:
    sandbox = SANDBOX.create_sandbox(crm, time_scale=SCALE)
    people = sandbox.people()[:6]
    score_field = [FieldSpec("smarketing score", "smarketing score", "number")]
    flaky = people[2]["id"]
    sandbox.inject("PATCH", f"/api/v2/persons/{flaky}", 503, 503, 503)  # outlasts the retries
    updates = [
        FieldUpdate(f"t{i}", p["id"], None, {"smarketing score": i}) for i, p in enumerate(people)
    ]
    async with connected(sandbox, max_attempts=3) as (connector, http):
        await connector.ensure_fields(http, score_field)
        result = await connector.push(http, updates)
    by_key = {o.key: o for o in result.outcomes}
    assert not by_key["t2"].ok and by_key["t2"].retryable and "503" in (by_key["t2"].error or "")
    assert all(by_key[f"t{i}"].ok for i in range(6) if i != 2)
    assert http.retries["status_503"] == 2
