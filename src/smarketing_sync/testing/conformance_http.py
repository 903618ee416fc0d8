"""Conformance checks of a connector's declaration, its check call and the shared HTTP behaviour.

The error checks are synthetic: the kit answers the connector's ``check_path`` with a 429, 5xx or
a spent rate-limit budget and proves that the connector's declaration and the shared ``Http``
together retry, wait and log the way the daemon relies on.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from smarketing_sync import AuthError, Capability, TransientError
from smarketing_sync.registry import validate_declaration
from smarketing_sync.testing.conformance_base import ConformanceBase, run
from smarketing_sync.testing.conformance_replay import GroupReplay, Replay
from smarketing_sync.testing.conformance_support import FakeTime
from smarketing_sync.testing.fixtures import RecordedRequest

SLUG = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
#: Setting names that hold credentials; broader than the registry's start-up check on purpose.
SECRET_WORDS = (
    "token",
    "secret",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "private_key",
    "credential",
    "client_key",
    "access_key",
)


def _check_request(
    path: str, status: int, headers: dict[str, str] | None = None, body: object = None
) -> RecordedRequest:
    return RecordedRequest.from_json(
        "check",
        {
            "method": "GET",
            "path": path,
            "status": status,
            "headers": headers or {},
            "body": {} if body is None else body,
        },
    )


class DeclarationChecks(ConformanceBase):
    """The declaration: valid, a slug name, capabilities that match streams and methods."""

    def test_declaration_is_valid(self) -> None:
        validate_declaration(self.connector)
        assert SLUG.match(self.connector.name), f"name {self.connector.name!r} is not a slug"
        assert self.connector.check_path.startswith("/"), "check_path must start with '/'"
        assert self.connector.streams, "a connector declares at least one stream"

    def test_capabilities_match_methods(self) -> None:
        cls = self.connector
        caps = set(cls.capabilities)
        pairs = {Capability.PUSH_FIELDS: "push", Capability.CREATE_FIELDS: "ensure_fields"}
        for capability, method in pairs.items():
            implemented = callable(getattr(cls, method, None))
            assert implemented == (capability in caps), (
                f"{cls.name}: {method}() and capability {capability.value} must go together "
                f"(method {'present' if implemented else 'absent'}, capability "
                f"{'declared' if capability in caps else 'not declared'})"
            )
            if implemented:
                assert inspect.iscoroutinefunction(getattr(cls, method)), (
                    f"{cls.name}.{method} must be an async def"
                )
        pull = getattr(cls, "pull", None)
        if pull is not None:
            assert inspect.isasyncgenfunction(pull), (
                f"{cls.name}.pull must be an async generator yielding Page objects"
            )
        for stream, endpoint in cls.streams.items():
            assert endpoint.records, f"stream {stream!r}: 'records' path is empty"
            assert endpoint.path.startswith("/"), f"stream {stream!r}: path must start with '/'"

    def test_settings_hide_secrets(self) -> None:
        settings = self.validated()
        for name, info in type(settings).model_fields.items():
            if any(word in name.lower() for word in SECRET_WORDS):
                assert info.annotation is SecretStr, (
                    f"{self.connector.name}: setting {name!r} holds a credential and must be "
                    f"typed SecretStr (found {info.annotation})"
                )
        secrets = self.secrets()
        shown = {
            "repr()": repr(settings),
            "str()": str(settings),
            "model_dump_json()": settings.model_dump_json(),
        }
        for secret in secrets:
            for how, text in shown.items():
                # The message names where, never the text: it would print the secret.
                assert secret not in text, f"a secret setting shows in the settings' {how}"


class CheckCalls(ConformanceBase):
    """``check_path``: what ``smarketing-sync check --live`` calls to test a credential."""

    def test_check_succeeds(self) -> None:
        async def check() -> None:
            with Replay(self.base_url(), [_check_request(self.connector.check_path, 200)]) as r:
                async with self.http(r) as http:
                    response = await http.get(self.connector.check_path)
            assert response.status_code == 200
            sent = r.received[0]
            carried = " ".join([str(sent.url), *sent.headers.values()])
            secrets = self.secrets()
            assert not secrets or any(secret in carried for secret in secrets), (
                "the check request carries none of the credential settings"
            )

        run(check())

    def test_check_401_is_auth_error_without_retry(self) -> None:
        fake = FakeTime()
        answer = _check_request(
            self.connector.check_path, 401, body={"message": "invalid credentials"}
        )

        async def check() -> None:
            with Replay(self.base_url(), [answer]) as replay:
                async with self.http(replay, fake) as http:
                    with pytest.raises(AuthError) as caught:
                        await http.get(self.connector.check_path)
            assert len(replay.received) == 1, "a 401 must not be retried"
            for secret in self.secrets():
                assert secret not in str(caught.value), "the AuthError message shows the secret"

        with capture_logs() as logs:
            run(check())
        assert fake.sleeps == [], f"a 401 must not wait (slept {fake.sleeps})"
        assert not [e for e in logs if e.get("event") == "http.retry"]


class HttpErrorChecks(ConformanceBase):
    """429, 5xx and spent budgets, answered on ``check_path`` (synthetic, kit-provided)."""

    def test_429_waits_retry_after_then_succeeds(self) -> None:
        path = self.connector.check_path
        header = self.connector.rate_limit.retry_after_header
        answers = [
            _check_request(path, 429, {header: "2"}, {"message": "too many requests"}),
            _check_request(path, 200),
        ]
        fake = FakeTime()

        async def call() -> int:
            with Replay(self.base_url(), answers) as replay:
                async with self.http(replay, fake) as http:
                    response = await http.get(path)
            return response.status_code

        with capture_logs() as logs:
            assert run(call()) == 200
        assert 2.0 in fake.sleeps, f"Retry-After: 2 was not honoured (slept {fake.sleeps})"
        assert fake.now >= 2.0
        retries = [e for e in logs if e.get("event") == "http.retry"]
        assert len(retries) == 1, f"expected one http.retry, logged {retries}"
        assert retries[0].get("reason") == "status_429", retries
        self._no_secret_in(logs)

    def test_5xx_raises_transient_after_max_attempts(self) -> None:
        path = self.connector.check_path
        fake = FakeTime()
        outage = GroupReplay(
            self.base_url(), [_check_request(path, 503, body={"message": "service unavailable"})]
        )

        async def call() -> int:
            with outage:
                async with self.http(outage, fake) as http:
                    with pytest.raises(TransientError):
                        await http.get(path)
                    return http.settings.max_attempts

        with capture_logs() as logs:
            attempts = run(call())
        assert len(outage.received) == attempts, (
            f"expected {attempts} attempts (max_attempts), made {len(outage.received)}"
        )
        retries = [e for e in logs if e.get("event") == "http.retry"]
        assert len(retries) == attempts - 1, f"expected one http.retry per retry, got {retries}"
        assert all(e.get("reason") == "status_503" for e in retries), retries
        assert len(fake.sleeps) >= attempts - 1
        self._no_secret_in(logs)

    def test_remaining_zero_throttles_next_request(self, rate_header: str) -> None:
        rate = self.connector.rate_limit
        path = self.connector.check_path
        headers = {rate_header: "0"}
        if rate.reset_header:
            headers[rate.reset_header] = "3"
        answers = [_check_request(path, 200, headers), _check_request(path, 200)]
        fake = FakeTime()

        async def call() -> float:
            with Replay(self.base_url(), answers) as replay:
                async with self.http(replay, fake) as http:
                    await http.get(path)
                    waited_before = fake.now
                    await http.get(path)
            return fake.now - waited_before

        with capture_logs() as logs:
            waited = run(call())
        expected = 3.0 if rate.reset_header else 1.0
        assert waited >= expected, f"remaining 0 must pause {expected}s, paused {waited}s"
        throttles = [e for e in logs if e.get("event") == "http.throttle"]
        assert throttles, f"no http.throttle event was logged: {logs}"
        assert all(e.get("reason") for e in throttles), throttles

    def _no_secret_in(self, logs: Sequence[Mapping[str, Any]]) -> None:
        text = repr(logs)
        for secret in self.secrets():
            assert secret not in text, "a log event shows the secret"
