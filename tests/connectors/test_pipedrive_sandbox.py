"""The Pipedrive sandbox honours the v2 contract the connector relies on (over loopback)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from smarketing_sync import registry
from smarketing_sync.testing.population import Population, ToolData
from smarketing_sync.testing.sandbox import SandboxServer

SANDBOX = registry.sandbox_module(registry.load_connector("pipedrive"))
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")  # v2: RFC 3339, whole seconds
HEX40 = re.compile(r"^[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def people() -> ToolData:
    return Population.generate(("hubspot", "pipedrive"), n_per_tool=400, seed=3).for_tool(
        "pipedrive"
    )


def loopback(app: Any) -> SandboxServer:
    return SandboxServer(app)


@contextmanager
def serving(sandbox: Any, token: str | None = None) -> Iterator[httpx.Client]:
    with (
        loopback(sandbox.app()) as server,
        httpx.Client(
            base_url=server.url, headers={"x-api-token": token or sandbox.token}, timeout=10
        ) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def shared(people: ToolData) -> Iterator[tuple[Any, httpx.Client]]:
    """One server for the tests that change nothing (a rejected write changes nothing either).

    time_scale 1000 shrinks the burst window to 2 ms, so these tests never meet it.
    """
    sandbox = SANDBOX.create_sandbox(people, time_scale=1000)
    with serving(sandbox) as client:
        yield sandbox, client


def all_pages(client: httpx.Client, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    pages, query = [], dict(params)
    while True:
        body = client.get(path, params=query).raise_for_status().json()
        assert body["success"] is True
        pages.append(body["data"])
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return pages
        query["cursor"] = cursor


def assert_pipedrive_error(response: httpx.Response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error_info"].startswith("Please check developers.pipedrive.com")
    for word in words:
        assert word in body["error"], body["error"]
    return str(body["error"])


def test_cursor_paging_returns_every_person_once_in_update_order(
    shared: tuple[Any, httpx.Client],
) -> None:
    sandbox, client = shared
    pages = all_pages(
        client, "/api/v2/persons", sort_by="update_time", sort_direction="asc", limit=150
    )
    records = [r for page in pages for r in page]
    assert [len(p) for p in pages] == [150, 150, 100]
    assert sorted(r["id"] for r in records) == sorted(int(p["id"]) for p in sandbox.people())
    stamps = [r["update_time"] for r in records]
    assert stamps == sorted(stamps)
    assert all(STAMP.match(s) for s in stamps)
    first = records[0]
    assert first["emails"][0] == {
        "value": first["emails"][0]["value"],
        "primary": True,
        "label": "work",
    }
    assert set(first) >= {
        "first_name",
        "last_name",
        "owner_id",
        "org_id",
        "phones",
        "custom_fields",
    }


def test_limit_defaults_to_100_and_is_capped_at_500(shared: tuple[Any, httpx.Client]) -> None:
    _, client = shared
    assert len(client.get("/api/v2/persons").json()["data"]) == 100
    assert len(client.get("/api/v2/persons", params={"limit": 500}).json()["data"]) == 400
    assert_pipedrive_error(client.get("/api/v2/persons", params={"limit": 501}), 400, "limit")
    assert_pipedrive_error(client.get("/api/v2/deals", params={"limit": 0}), 400, "limit")


def test_updated_since_is_inclusive_and_returns_ties(people: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(people)
    with sandbox.lock:
        tied = [sandbox.persons.records[5], sandbox.persons.records[9]]
        moment = max(p.update_time for p in sandbox.persons.records.values()) + 60
        for person in tied:
            sandbox.persons.touch(person, moment)  # two writes within one second
    since = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (datetime.fromtimestamp(moment, UTC) + timedelta(seconds=1)).isoformat()
    with serving(sandbox) as client:
        body = client.get(
            "/api/v2/persons", params={"updated_since": since, "sort_by": "update_time"}
        ).json()
        after = client.get("/api/v2/persons", params={"updated_since": later}).json()
        naive = client.get("/api/v2/persons", params={"updated_since": "2025-01-01 10:00:00"})
    assert sorted(r["id"] for r in body["data"]) == [5, 9]
    assert all(r["update_time"] == since for r in body["data"])
    assert after["data"] == []
    assert_pipedrive_error(naive, 400, "updated_since")


def test_every_answer_carries_the_burst_headers(shared: tuple[Any, httpx.Client]) -> None:
    _, client = shared
    for path in ("/api/v1/users/me", "/api/v2/persons", "/api/v2/personFields"):
        headers = client.get(path).headers
        assert int(headers["x-ratelimit-limit"]) == 20  # Lite plan, api_token
        assert 0 <= int(headers["x-ratelimit-remaining"]) < 20
        assert float(headers["x-ratelimit-reset"]) > 0
        assert "x-daily-requests-left" in headers


def test_burst_window_answers_429_until_it_rolls_over(people: ToolData) -> None:
    # time_scale 10: Lite's 20 requests per 2 s become 20 per 0.2 s.
    sandbox = SANDBOX.create_sandbox(people, time_scale=10)
    with serving(sandbox) as client:
        answers = [client.get("/api/v1/users/me") for _ in range(30)]
        throttled = [a for a in answers if a.status_code == 429]
        assert throttled, "30 requests in a burst should exceed 20 per window"
        assert throttled[0].headers["x-ratelimit-remaining"] == "0"
        assert float(throttled[0].headers["x-ratelimit-reset"]) <= 0.2
        assert_pipedrive_error(throttled[0], 429)
        time.sleep(0.25)
        assert client.get("/api/v1/users/me").status_code == 200
    assert sandbox.calls.throttled == len(throttled)


def test_search_has_its_own_smaller_window(people: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(people, time_scale=10)
    with serving(sandbox) as client:
        params = {"term": "nobody@example.com", "fields": "email", "exact_match": "true"}
        codes = [client.get("/api/v2/persons/search", params=params).status_code for _ in range(12)]
    assert codes.count(200) == 10 and codes.count(429) == 2


def test_daily_token_budget_runs_out_with_429(people: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(people)
    sandbox.token_budget = 25  # a list call costs 10 tokens
    with serving(sandbox) as client:
        codes = [client.get("/api/v2/persons").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_wrong_or_missing_token_is_401(shared: tuple[Any, httpx.Client]) -> None:
    _, client = shared
    wrong = client.get("/api/v2/persons", headers={"x-api-token": "not-the-token"})
    assert_pipedrive_error(wrong, 401)
    assert client.get("/api/v2/persons", headers={"x-api-token": ""}).status_code == 401


def test_token_in_the_query_string_works_but_is_counted(people: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(people)
    with loopback(sandbox.app()) as server, httpx.Client(base_url=server.url) as client:
        answer = client.get("/api/v2/persons", params={"api_token": sandbox.token, "limit": 1})
    assert answer.status_code == 200
    assert sandbox.token_in_query == 1


def test_unknown_person_is_404(shared: tuple[Any, httpx.Client]) -> None:
    _, client = shared
    assert_pipedrive_error(client.get("/api/v2/persons/999999"), 404, "not found")
    assert_pipedrive_error(client.patch("/api/v2/persons/999999", json={"name": "Nobody"}), 404)


@pytest.mark.parametrize(
    ("method", "body", "words"),
    [
        ("POST", {"emails": [{"value": "no.name@example.com"}]}, ("name",)),
        ("POST", {"first_name": "", "last_name": ""}, ("first_name",)),
        ("POST", {"name": "X", "nickname": "x"}, ("nickname", "not allowed")),
        ("POST", {"name": "X", "emails": "x@example.com"}, ("emails",)),
        (
            "POST",
            {
                "name": "X",
                "emails": [
                    {"value": "a@x.io", "primary": True},
                    {"value": "b@x.io", "primary": True},
                ],
            },
            ("primary",),
        ),
        ("PATCH", {"first_name": "Only"}, ("first_name and last_name",)),
        ("PATCH", {"custom_fields": {"0" * 40: "x"}}, ("0" * 40,)),
        ("PATCH", {"visible_to": "3"}, ("visible_to",)),
    ],
    ids=[
        "no-name",
        "both-names-empty",
        "unknown-param",
        "emails-not-objects",
        "two-primaries",
        "half-name",
        "unknown-custom-field",
        "string-for-number",
    ],
)
def test_validation_errors_use_pipedrives_error_body(
    shared: tuple[Any, httpx.Client],
    people: ToolData,
    method: str,
    body: dict[str, Any],
    words: tuple[str, ...],
) -> None:
    sandbox, client = shared
    before = sandbox.people()[0]
    path = "/api/v2/persons" if method == "POST" else f"/api/v2/persons/{before['id']}"
    answer = client.request(method, path, json=body)
    error = assert_pipedrive_error(answer, 400, "Validation failed", *words)
    assert answer.json()["code"] == "ERR_SCHEMA_VALIDATION_FAILED", error
    assert len(sandbox.people()) == len(people.people)
    assert sandbox.people()[0] == before  # a rejected write changes nothing


def test_custom_fields_have_hash_codes_and_typed_values(people: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(people)
    with serving(sandbox) as client:
        assert_pipedrive_error(
            client.post("/api/v2/personFields", json={"field_name": "Tier", "field_type": "enum"}),
            400,
            "options",
        )
        created = client.post(
            "/api/v2/personFields",
            json={"field_name": "Tier", "field_type": "enum", "options": [{"label": "Gold"}]},
        ).json()["data"]
        code = created["field_code"]
        gold = created["options"][0]["id"]
        listed = [f for page in all_pages(client, "/api/v2/personFields") for f in page]
        person = client.get("/api/v2/persons", params={"limit": 1}).json()["data"][0]
        wrong = client.patch(
            f"/api/v2/persons/{person['id']}", json={"custom_fields": {code: "Gold"}}
        )
        right = client.patch(
            f"/api/v2/persons/{person['id']}", json={"custom_fields": {code: gold}}
        )
    assert HEX40.match(code) and created["is_custom_field"] is True
    assert {f["field_name"] for f in listed if f["is_custom_field"]} == {
        "Job title",
        "Lead source",
        "Tier",
    }
    assert all(HEX40.match(k) for k in person["custom_fields"])
    assert code in person["custom_fields"] and person["custom_fields"][code] is None
    assert_pipedrive_error(wrong, 400, "number")
    assert right.json()["data"]["custom_fields"][code] == gold
    assert sandbox.person_by_email(sandbox.people()[0]["email"]) is not None


def test_every_write_moves_update_time_forward(people: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(people)
    person_id = sandbox.people()[0]["id"]
    with serving(sandbox) as client:
        stamps = [
            client.patch(f"/api/v2/persons/{person_id}", json={"name": f"Name {i}"}).json()["data"][
                "update_time"
            ]
            for i in range(3)
        ]
    assert stamps == sorted(set(stamps)), "three quick writes need three distinct update_times"
    assert all(STAMP.match(s) for s in stamps)
    seeded_newest = max(p.updated_at for p in people.people)
    assert datetime.fromisoformat(stamps[0]) > seeded_newest


def test_name_rules_and_contact_lists(people: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(people)
    with serving(sandbox) as client:
        made = client.post(
            "/api/v2/persons",
            json={"first_name": "Ada", "last_name": "Lovelace", "phones": [{"value": "+441234"}]},
        ).json()["data"]
        renamed = client.patch(f"/api/v2/persons/{made['id']}", json={"name": "Ada King"}).json()
    assert made["name"] == "Ada Lovelace"
    assert made["phones"] == [{"value": "+441234", "primary": True, "label": "work"}]
    assert (renamed["data"]["first_name"], renamed["data"]["last_name"]) == ("Ada", "King")


def test_search_by_email_exact_and_case_insensitive(shared: tuple[Any, httpx.Client]) -> None:
    sandbox, client = shared
    stored = sandbox.people()[3]
    term = stored["email"].strip().upper()
    exact = client.get(
        "/api/v2/persons/search",
        params={"term": term, "fields": "email", "exact_match": "true"},
    ).json()
    short = client.get("/api/v2/persons/search", params={"term": "a"})
    items = exact["data"]["items"]
    assert [i["item"]["id"] for i in items] == [int(stored["id"])]
    assert items[0]["item"]["emails"] == [stored["email"]]
    assert_pipedrive_error(short, 400, "term")


def test_activities_and_deals_are_seeded_and_linked(
    shared: tuple[Any, httpx.Client], people: ToolData
) -> None:
    sandbox, client = shared
    activities = [a for p in all_pages(client, "/api/v2/activities", limit=500) for a in p]
    deals = [d for p in all_pages(client, "/api/v2/deals", limit=500) for d in p]
    won = client.get("/api/v2/deals", params={"status": "won"}).json()["data"]
    person_ids = {int(p["id"]) for p in sandbox.people()}
    assert len(activities) == len(people.activities)
    assert {a["type"] for a in activities} <= {"call", "meeting", "task", "email"}
    assert all(a["person_id"] in person_ids for a in activities)
    assert all(
        a["participants"] == [{"person_id": a["person_id"], "primary": True}] for a in activities
    )
    assert len(deals) == len(people.deals)
    assert {d["status"] for d in deals} == {s.status for s in people.deals}
    assert all(d["person_id"] in person_ids for d in deals)
    assert won and all(d["won_time"] and d["status"] == "won" for d in won)
    lost = [d for d in deals if d["status"] == "lost"]
    assert all(d["lost_reason"] == "Budget" and d["lost_time"] for d in lost)


def test_tool_neutral_helpers(people: ToolData) -> None:
    sandbox = SANDBOX.create_sandbox(people)
    seeded = people.people[0]
    found = sandbox.person_by_email(f"  {seeded.email.strip().upper()} ")
    assert found is not None and found["first_name"] == seeded.first_name
    assert found["job_title"] == seeded.job_title and found["company"] == seeded.company
    before = found["updated_at"]
    sandbox.edit_person(found["id"], job_title="Head of Growth", last_name="Okafor", city="")
    edited = sandbox.person_by_email(seeded.email)
    assert edited is not None
    assert (edited["job_title"], edited["last_name"], edited["city"]) == (
        "Head of Growth",
        "Okafor",
        "",
    )
    assert edited["updated_at"] > before
    new_id = sandbox.add_person("new.person@example.com", first_name="New", last_name="Person")
    activity_id = sandbox.add_activity(new_id, "note", "Called back")
    deal_id = sandbox.add_deal(new_id, "New Person — Pilot", 1200, "EUR")
    sandbox.set_deal_status(deal_id, "lost", lost_reason="No budget")
    assert next(a for a in sandbox.activities() if a["id"] == activity_id)["person_ids"] == [new_id]
    deal = sandbox.deal(deal_id)
    assert (deal["status"], deal["lost_reason"], deal["person_id"]) == (
        "lost",
        "No budget",
        int(new_id),
    )
    assert deal["lost_time"] == deal["update_time"]


@pytest.mark.slow
def test_twenty_thousand_persons_page_completely() -> None:
    data = Population.generate(("hubspot", "pipedrive"), n_per_tool=20_000, overlap=0.5).for_tool(
        "pipedrive"
    )
    sandbox = SANDBOX.create_sandbox(data, time_scale=100)
    with serving(sandbox) as client:
        pages = all_pages(client, "/api/v2/persons", sort_by="update_time", limit=500)
    assert sum(len(p) for p in pages) == 20_000
    assert len({r["id"] for p in pages for r in p}) == 20_000
