"""The shared HTTP layer: every connector request goes through here.

It maps statuses to errors with one table, retries transient failures with tenacity
(Retry-After first, exponential backoff with jitter otherwise), keeps each connector under its
documented limits, counts calls for the benchmarks and logs every retry as ``http.retry``.
Connectors never retry or sleep on their own.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import structlog
from pydantic import BaseModel, Field
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from smarketing_sync.errors import (
    AuthError,
    GarbledAnswer,
    RateLimited,
    RecordError,
    SyncError,
    TransientError,
)
from smarketing_sync.sdk.declarations import RateLimit
from smarketing_sync.sdk.ratelimit import Clock, Limiter, Sleep

log = structlog.get_logger("smarketing_sync.http")

ErrorTable = Mapping[int, type[SyncError]]

#: The one place where a status becomes an error class. Connectors may add entries.
DEFAULT_ERRORS: dict[int, type[SyncError]] = {
    400: RecordError,
    401: AuthError,
    403: AuthError,
    404: RecordError,
    408: TransientError,
    409: RecordError,
    422: RecordError,
    429: RateLimited,
}

_ID_SEGMENT = re.compile(r"/(?:\d+|[0-9a-f]{16,}|[0-9a-f-]{36})(?=/|$)")


class HttpSettings(BaseModel):
    """Retry and rate-limit behaviour shared by all connectors."""

    max_attempts: int = Field(6, ge=1, le=20, description="tries per request, first one included")
    initial_backoff_s: float = Field(0.5, gt=0)
    max_backoff_s: float = Field(60.0, gt=0, description="upper bound of one backoff wait")
    timeout_s: float = Field(30.0, gt=0)
    rate_limit_scale: float = Field(
        1.0, gt=0, description="time compression of vendor limits (sandboxes and benchmarks)"
    )
    max_concurrency: int = Field(4, ge=1, le=64, description="requests in flight per connector")


def call_kind(method: str, path: str) -> str:
    """A stable label for counting calls: ids in the path are folded to ``{id}``."""
    return f"{method} {_ID_SEGMENT.sub('/{id}', path.split('?', 1)[0])}"


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _vendor_message(response: httpx.Response) -> str:
    text = response.text[:500]
    try:
        body = response.json()
    except ValueError:
        return text
    if isinstance(body, dict):
        for key in ("message", "error", "error_info", "detail"):
            if body.get(key):
                return str(body[key])[:500] + _missing_scopes(body)
    return text


def _missing_scopes(body: dict[str, Any]) -> str:
    """Scopes a 403 says are required (HubSpot: ``errors[].context.requiredGranularScopes``)."""
    scopes: list[str] = []
    errors = body.get("errors")
    for item in errors if isinstance(errors, list) else []:
        context = item.get("context") if isinstance(item, dict) else None
        for key, value in (context or {}).items():
            if key.lower().endswith("scopes") and isinstance(value, list):
                scopes.extend(str(v) for v in value if str(v) not in scopes)
    return f" (missing scopes: {', '.join(scopes)})" if scopes else ""


class Http:
    """An httpx client bound to one connector's base URL, headers and limits."""

    def __init__(
        self,
        connector: str,
        base_url: str,
        headers: Mapping[str, str],
        rate_limit: RateLimit,
        settings: HttpSettings | None = None,
        *,
        errors: ErrorTable | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock | None = None,
    ) -> None:
        self.connector = connector
        self.settings = settings or HttpSettings()
        self.rate_limit = rate_limit
        self._errors = {**DEFAULT_ERRORS, **(errors or {})}
        self._sleep = sleep
        limiter_kwargs: dict[str, Any] = {"scale": self.settings.rate_limit_scale, "sleep": sleep}
        if clock is not None:
            limiter_kwargs["clock"] = clock
        self.limiter = Limiter(rate_limit, **limiter_kwargs)
        self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers),
            timeout=httpx.Timeout(self.settings.timeout_s),
            transport=transport,
        )
        self.calls: Counter[str] = Counter()
        # Asked before every request (retries included); raises when the daily budget is spent.
        # Set by the sync cycle from quota.py; None: no budget is tracked.
        self.quota_hook: Callable[[str], None] | None = None
        self.statuses: Counter[int] = Counter()
        self.retries: Counter[str] = Counter()

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, **kw)

    async def patch(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kw)

    async def put(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, **kw)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        errors: ErrorTable | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send one request, retrying transient failures; raise the mapped error otherwise.

        ``idempotent=False`` (a create without an upsert key): after a timeout, a dropped
        connection or a 5xx the vendor may have done the work, so a blind re-send could create
        a duplicate. Such a request is only retried after a 429 (refused, so not done); other
        transient errors go back to the caller, whose outbox re-sends with ``attempt > 1`` and
        looks the record up first.
        """
        table = {**self._errors, **(errors or {})}
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientError if idempotent else RateLimited),
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=self._wait,
            before_sleep=self._log_retry,
            sleep=self._sleep,
            reraise=True,
        )
        response: httpx.Response | None = None
        async for attempt in retrying:
            with attempt:
                response = await self._send_once(method, path, params, json, table)
        assert response is not None
        return response

    async def json(self, response: httpx.Response) -> Any:
        """The decoded body, or a GarbledAnswer that says which request answered garbage."""
        try:
            return response.json()
        except ValueError as exc:
            raise GarbledAnswer(
                f"{self.connector}: {response.request.method} {response.request.url.path} "
                f"answered {response.status_code} with a body that is not JSON: "
                f"{response.text[:120]!r}"
            ) from exc

    async def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        table: ErrorTable,
    ) -> httpx.Response:
        if self.quota_hook is not None:
            self.quota_hook(self.connector)
        await self.limiter.acquire(path)
        kind = call_kind(method, path)
        async with self._slots:
            self.calls[kind] += 1
            try:
                response = await self._client.request(method, path, params=params, json=body)
            except httpx.TimeoutException as exc:
                raise TransientError(
                    f"{self.connector}: {kind} timed out", reason="timeout"
                ) from exc
            except httpx.TransportError as exc:
                raise TransientError(
                    f"{self.connector}: {kind} failed: {type(exc).__name__}", reason="network_error"
                ) from exc
        self.statuses[response.status_code] += 1
        self._observe_headers(response)
        status = response.status_code
        if status < 400:
            return response
        message = f"{self.connector}: {kind} answered {status}: {_vendor_message(response)}"
        error = table.get(status)
        if error is RateLimited or status == 429:
            retry_after = _retry_after(response.headers.get(self.rate_limit.retry_after_header))
            if retry_after is None and self.rate_limit.reset_header:
                # No Retry-After (Pipedrive, HubSpot): the window's reset time says the same.
                retry_after = _retry_after(response.headers.get(self.rate_limit.reset_header))
            if retry_after is not None:
                self.limiter.block_for(retry_after)
            raise RateLimited(message, retry_after=retry_after)
        if error is None:
            error = TransientError if status >= 500 else RecordError
        if issubclass(error, TransientError):
            raise error(message, reason=f"status_{status}")
        if issubclass(error, RecordError):
            raise error(message, status=status)
        raise error(message)

    def _observe_headers(self, response: httpx.Response) -> None:
        header = self.rate_limit.remaining_header
        if header is None or header not in response.headers:
            return
        try:
            remaining = int(float(response.headers[header]))
        except ValueError:
            return
        if remaining <= 0:
            reset = None
            if self.rate_limit.reset_header:
                reset = _retry_after(response.headers.get(self.rate_limit.reset_header))
            wait = reset if reset is not None else 1.0 / self.settings.rate_limit_scale
            self.limiter.block_for(wait)
            self.retries["provider_remaining"] += 1
            log.info(
                "http.throttle", connector=self.connector, reason="provider_remaining", wait_s=wait
            )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, self.settings.max_backoff_s)
        backoff = wait_exponential_jitter(
            multiplier=self.settings.initial_backoff_s,
            max=self.settings.max_backoff_s,
            jitter=self.settings.initial_backoff_s,
        )
        return float(backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = exc.reason if isinstance(exc, TransientError) else "unknown"
        self.retries[reason] += 1
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "http.retry",
            connector=self.connector,
            reason=reason,
            attempt=state.attempt_number,
            wait_s=round(wait, 3),
            error=str(exc),
        )
