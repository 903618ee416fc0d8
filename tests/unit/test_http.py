"""The shared HTTP layer: status table, retries with Retry-After, limiter, logged reasons."""

from __future__ import annotations

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from smarketing_sync.errors import (
    AuthError,
    GarbledAnswer,
    RateLimited,
    RecordError,
    TransientError,
)
from smarketing_sync.sdk.declarations import Limit, RateLimit
from smarketing_sync.sdk.http import Http, HttpSettings, call_kind

BASE = "http://127.0.0.1:9"


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def make_http(fake: FakeTime, rate_limit: RateLimit | None = None, **settings: float) -> Http:
    return Http(
        "acme",
        BASE,
        {"Authorization": "Bearer secret-token"},
        rate_limit or RateLimit(),
        HttpSettings(**settings),  # type: ignore[arg-type]
        sleep=fake.sleep,
        clock=fake.clock,
    )


@respx.mock(base_url=BASE, assert_all_called=True)
async def test_429_waits_retry_after_then_succeeds(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/things").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2"}),
            httpx.Response(200, json={}),
        ]
    )
    fake = FakeTime()
    with capture_logs() as logs:
        async with make_http(fake) as http:
            response = await http.get("/things")
    assert response.status_code == 200
    assert route.call_count == 2
    assert 2.0 in fake.sleeps
    retry = [e for e in logs if e["event"] == "http.retry"]
    assert retry and retry[0]["reason"] == "status_429" and retry[0]["connector"] == "acme"


@respx.mock(base_url=BASE)
async def test_5xx_is_retried_until_max_attempts(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/x").mock(return_value=httpx.Response(503, json={"message": "down"}))
    fake = FakeTime()
    async with make_http(fake, max_attempts=3) as http:
        with pytest.raises(TransientError, match="503"):
            await http.get("/x")
    assert route.call_count == 3
    assert len(fake.sleeps) == 2


@respx.mock(base_url=BASE)
async def test_timeout_is_transient(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/x").mock(side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json={})])
    fake = FakeTime()
    with capture_logs() as logs:
        async with make_http(fake) as http:
            assert (await http.get("/x")).status_code == 200
    assert [e["reason"] for e in logs if e["event"] == "http.retry"] == ["timeout"]


@respx.mock(base_url=BASE)
async def test_401_is_not_retried_and_hides_the_token(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/me").mock(
        return_value=httpx.Response(401, json={"message": "expired"})
    )
    async with make_http(FakeTime()) as http:
        with pytest.raises(AuthError) as info:
            await http.get("/me")
    assert route.call_count == 1
    assert "expired" in str(info.value)
    assert "secret-token" not in str(info.value)


@respx.mock(base_url=BASE)
async def test_400_is_a_record_error_with_the_vendor_message(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/p").mock(return_value=httpx.Response(400, json={"message": "bad email"}))
    async with make_http(FakeTime()) as http:
        with pytest.raises(RecordError, match="bad email") as info:
            await http.post("/p", json={})
    assert info.value.status == 400


@respx.mock(base_url=BASE)
async def test_connector_error_override(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/p").mock(
        side_effect=[httpx.Response(409, json={}), httpx.Response(200, json={})]
    )
    async with make_http(FakeTime()) as http:
        response = await http.request("GET", "/p", errors={409: TransientError})
    assert response.status_code == 200


@respx.mock(base_url=BASE)
async def test_remaining_zero_throttles_the_next_request(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/a").mock(
        return_value=httpx.Response(200, json={}, headers={"x-left": "0", "x-reset": "3"})
    )
    fake = FakeTime()
    limits = RateLimit(remaining_header="x-left", reset_header="x-reset")
    async with make_http(fake, limits) as http:
        await http.get("/a")
        assert fake.sleeps == []
        await http.get("/a")
    assert fake.sleeps == [3.0]


@respx.mock(base_url=BASE)
async def test_declared_window_is_kept_proactively(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/a").mock(return_value=httpx.Response(200, json={}))
    fake = FakeTime()
    limits = RateLimit(limits=(Limit(5, 10.0),))
    async with make_http(fake, limits) as http:
        for _ in range(9):
            await http.get("/a")
    # 4 per window (one of head-room), so the 5th and 9th requests waited for a window.
    assert len(fake.sleeps) == 2
    assert fake.now == pytest.approx(20.0)


@respx.mock(base_url=BASE)
async def test_garbage_body_is_a_contract_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/a").mock(return_value=httpx.Response(200, text="<html>oops"))
    async with make_http(FakeTime()) as http:
        response = await http.get("/a")
        with pytest.raises(GarbledAnswer, match="not JSON"):
            await http.json(response)


async def test_429_without_retry_after_uses_backoff() -> None:
    fake = FakeTime()
    with respx.mock(base_url=BASE) as mock:
        mock.get("/a").mock(side_effect=[httpx.Response(429), httpx.Response(200, json={})])
        async with make_http(fake, initial_backoff_s=1.0) as http:
            await http.get("/a")
    assert len(fake.sleeps) == 1 and 0 < fake.sleeps[0] <= 60


def test_rate_limited_is_transient() -> None:
    assert issubclass(RateLimited, TransientError)


def test_call_kind_folds_ids() -> None:
    assert call_kind("PATCH", "/api/v2/persons/123") == "PATCH /api/v2/persons/{id}"
    assert call_kind("GET", "/crm/v3/objects/contacts?limit=1") == "GET /crm/v3/objects/contacts"


@respx.mock(base_url=BASE)
async def test_429_without_retry_after_waits_for_the_window_reset(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get("/a").mock(
        side_effect=[
            httpx.Response(429, headers={"x-reset": "1.5", "x-left": "0"}),
            httpx.Response(200, json={}),
        ]
    )
    fake = FakeTime()
    limits = RateLimit(remaining_header="x-left", reset_header="x-reset")
    async with make_http(fake, limits) as http:
        await http.get("/a")
    assert 1.5 in fake.sleeps


@respx.mock(base_url=BASE)
async def test_a_non_idempotent_request_is_not_resent_after_a_timeout(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post("/persons").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(201, json={})]
    )
    async with make_http(FakeTime()) as http:
        with pytest.raises(TransientError, match="timed out"):
            await http.post("/persons", json={}, idempotent=False)
    assert route.call_count == 1


@respx.mock(base_url=BASE)
async def test_a_non_idempotent_request_is_resent_after_a_429(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post("/persons").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(201, json={}),
        ]
    )
    async with make_http(FakeTime()) as http:
        assert (await http.post("/persons", json={}, idempotent=False)).status_code == 201
    assert route.call_count == 2


@respx.mock(base_url=BASE)
async def test_403_names_the_missing_scopes(respx_mock: respx.MockRouter) -> None:
    # The shape of HubSpot's MISSING_SCOPES answer (error handling guide).
    respx_mock.get("/crm/v3/objects/contacts").mock(
        return_value=httpx.Response(
            403,
            json={
                "status": "error",
                "message": "This app hasn't been granted all required scopes to make this call.",
                "category": "MISSING_SCOPES",
                "errors": [
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": ["crm.objects.contacts.read"]},
                    }
                ],
            },
        )
    )
    async with make_http(FakeTime()) as http:
        with pytest.raises(AuthError, match=r"missing scopes: crm\.objects\.contacts\.read"):
            await http.get("/crm/v3/objects/contacts")
