"""Ordered replay of recorded requests through respx, and the matching rules it applies.

A ``Replay`` answers each request with the next recorded answer when the request matches the
recording (method, path, ``params_has``, ``json_has`` subset); a ``GroupReplay`` answers by
(method, path) with a fixed answer, for synthetic runs. Both hand ``Http`` a transport: nothing
is patched globally, so replays never leak into other tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, cast

import httpx
import respx
from respx.models import AllMockedAssertionError
from respx.patterns import M, Pattern

from smarketing_sync.testing.fixtures import NO_JSON, RecordedRequest


class ReplayMismatch(AssertionError):
    """The connector sent something the fixture did not record (or left a recording unused)."""


# --- matching ---------------------------------------------------------------------------------


def _same_scalar(expected: Any, actual: Any) -> bool:
    # bool is an int in Python; the vendor's JSON keeps them apart and so do we.
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    return type(expected) is type(actual) and expected == actual


def subset_problem(expected: Any, actual: Any, where: str = "json") -> str | None:
    """Why ``actual`` does not contain ``expected``, or None when it does.

    Objects match when every expected key is present with a matching value. Lists match when
    every expected item matches a distinct actual item, in any order (so a fixture may list only
    the properties or batch inputs it cares about). Scalars must be equal and of the same JSON
    type (``"42"`` is not ``42``).
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object, found {json.dumps(actual)[:200]}"
        for key, value in expected.items():
            if key not in actual:
                return f"{where}.{key}: missing (present keys: {sorted(actual)[:20]})"
            problem = subset_problem(value, actual[key], f"{where}.{key}")
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{where}: expected a list, found {json.dumps(actual)[:200]}"
        if _match_items(expected, actual, 0, frozenset()):
            return None
        for index, item in enumerate(expected):
            if not any(subset_problem(item, candidate) is None for candidate in actual):
                return (
                    f"{where}[{index}]: no item of the sent list contains "
                    f"{json.dumps(item)[:200]} (sent: {json.dumps(actual)[:300]})"
                )
        return f"{where}: the items cannot all be matched to distinct sent items"
    if not _same_scalar(expected, actual):
        return f"{where}: expected {expected!r}, found {actual!r}"
    return None


def _match_items(expected: list[Any], actual: list[Any], index: int, used: frozenset[int]) -> bool:
    if index == len(expected):
        return True
    for position, candidate in enumerate(actual):
        if position in used or subset_problem(expected[index], candidate) is not None:
            continue
        if _match_items(expected, actual, index + 1, used | {position}):
            return True
    return False


def _param_text(value: Any) -> str:
    # The way httpx writes primitives into a query string.
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def request_json(request: httpx.Request) -> Any:
    """The request's JSON body, or NO_JSON when it has none (or it is not JSON)."""
    content = request.content
    if not content:
        return NO_JSON
    try:
        return json.loads(content)
    except ValueError:
        return NO_JSON


def request_problem(
    recorded: RecordedRequest, request: httpx.Request, base_path: str
) -> str | None:
    """Why ``request`` is not the ``recorded`` one (method, path, params_has, json_has)."""
    if request.method.upper() != recorded.method:
        return f"method: expected {recorded.method}, found {request.method}"
    path = request.url.path
    prefixed = base_path.rstrip("/") + recorded.path
    if path not in (recorded.path, prefixed):
        return f"path: expected {recorded.path!r}, found {path!r}"
    params = request.url.params
    for key, value in recorded.params_has.items():
        wanted = value if isinstance(value, list) else [value]
        sent = params.get_list(key)
        for item in wanted:
            if _param_text(item) not in sent:
                return f"params_has.{key}: expected {_param_text(item)!r}, found {sent or 'none'}"
    if recorded.json_has is not NO_JSON:
        body = request_json(request)
        if body is NO_JSON:
            return "json_has: the request has no JSON body"
        return subset_problem(recorded.json_has, body, "json_has")
    return None


def describe_request(request: httpx.Request) -> str:
    """One line for messages: method, path, query and the start of the JSON body."""
    body = request_json(request)
    text = f"{request.method} {request.url.path}"
    if request.url.query:
        text += f"?{request.url.query.decode()}"
    if body is not NO_JSON:
        text += f" json={json.dumps(body)[:400]}"
    return text


# --- replay -----------------------------------------------------------------------------------


def _route_marker(index: int) -> Pattern:
    # respx merges routes whose patterns are equal; pagination repeats method and path, so each
    # route carries a pattern that always matches (a header no request has) and is unique.
    marker: Pattern = M(headers__contains={"x-conformance-replay-route": str(index)})
    return cast(Pattern, ~marker)


Rejection = Callable[[httpx.Request], bool]


class Replay:
    """Serve recorded answers in the recorded order through a respx router.

    Each recorded request is one respx route (``assert_all_called=True``); a route answers only
    when it is its turn and the request matches its method, path, ``params_has`` and
    ``json_has``. Use it as a context manager around the code under test and pass
    ``replay.transport`` to ``Http``: nothing is patched globally.

    Args:
        base_url: the connector's base URL; requests elsewhere are never answered.
        requests: the recorded requests, in the order the connector must make them.
        reject: requests for which this returns True are answered ``reject_status`` (a vendor
            refusing those records) before the recorded routes are consulted.
    """

    def __init__(
        self,
        base_url: str,
        requests: Sequence[RecordedRequest],
        *,
        reject: Rejection | None = None,
        reject_status: int = 400,
    ) -> None:
        self.requests = list(requests)
        self.base_path = httpx.URL(base_url).path
        self.received: list[httpx.Request] = []
        self.rejected: list[httpx.Request] = []
        self._next = 0
        self._mismatch: str | None = None
        self._rejects = reject is not None
        self.router = respx.MockRouter(
            base_url=base_url, assert_all_called=True, assert_all_mocked=True, using=None
        )
        if reject is not None:
            self.router.route(_route_marker(-1), name="rejected").mock(
                side_effect=self._rejecter(reject, reject_status)
            )
        for index, recorded in enumerate(self.requests):
            self.router.route(_route_marker(index), name=f"#{index} {recorded.describe()}").mock(
                side_effect=self._answer_for(index)
            )
        self.transport = httpx.MockTransport(self.router.async_handler)

    def _rejecter(self, reject: Rejection, status: int) -> Any:
        def answer(request: httpx.Request) -> httpx.Response | None:
            if not reject(request):
                return None
            self.rejected.append(request)
            body = {"message": "rejected by the conformance kit: synthetic per-record 4xx"}
            return httpx.Response(status, json=body, request=request)

        return answer

    def _answer_for(self, index: int) -> Any:
        def answer(request: httpx.Request) -> httpx.Response | None:
            if index != self._next:
                return None
            recorded = self.requests[index]
            problem = request_problem(recorded, request, self.base_path)
            if problem is not None:
                self._mismatch = (
                    f"request {len(self.received) + 1} does not match recorded request "
                    f"#{index} ({recorded.describe()}): {problem}\n"
                    f"  sent: {describe_request(request)}"
                )
                raise ReplayMismatch(self._mismatch)
            self._next = index + 1
            self.received.append(request)
            return recorded.response(request)

        return answer

    def unused(self) -> list[RecordedRequest]:
        """Recorded requests the connector has not made (yet)."""
        return self.requests[self._next :]

    def __enter__(self) -> Replay:
        self.router.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # respx's own "some routes were not called" says too little: check before it does.
        unused = self.unused() if exc is None else []
        never_rejected = exc is None and self._rejects and not self.rejected
        quiet = bool(unused) or never_rejected
        self.router.__exit__(ReplayMismatch if quiet else exc_type, exc, tb)
        if self._mismatch is not None and not isinstance(exc, ReplayMismatch):
            # The connector swallowed our mismatch error; report it anyway.
            raise ReplayMismatch(self._mismatch) from exc
        if isinstance(exc, AllMockedAssertionError):
            expected = (
                f"the next recorded request is #{self._next}: "
                f"{self.requests[self._next].describe()}"
                if self._next < len(self.requests)
                else f"all {len(self.requests)} recorded requests were already used"
            )
            raise ReplayMismatch(
                f"request {len(self.received) + 1} was not recorded ({exc}); {expected}"
            ) from exc
        if unused:
            listed = "; ".join(f"#{self._next + i} {r.describe()}" for i, r in enumerate(unused))
            raise ReplayMismatch(f"recorded requests the connector never made: {listed}")
        if never_rejected:
            raise ReplayMismatch("the connector never sent a request the replay was set to refuse")


class GroupReplay:
    """Answer by (method, path) with one fixed recorded answer per group, for synthetic runs.

    Used where the connector's requests legitimately differ from the recording (a rerun from a
    later cursor) or where a vendor misbehaves on purpose (a page that repeats forever).
    ``pick`` chooses which recorded answer of a group is served: its first or its last.
    ``limit`` stops a runaway loop with ReplayMismatch.
    """

    def __init__(
        self,
        base_url: str,
        requests: Sequence[RecordedRequest],
        *,
        pick: Mapping[tuple[str, str], str] | None = None,
        default_pick: str = "last",
        limit: int = 50,
    ) -> None:
        self.base_path = httpx.URL(base_url).path
        self.limit = limit
        self.received: list[httpx.Request] = []
        groups: dict[tuple[str, str], list[RecordedRequest]] = {}
        for recorded in requests:
            groups.setdefault((recorded.method, recorded.path), []).append(recorded)
        choose = dict(pick or {})
        self.answers = {
            key: (items[0] if choose.get(key, default_pick) == "first" else items[-1])
            for key, items in groups.items()
        }
        self.router = respx.MockRouter(
            base_url=base_url, assert_all_called=False, assert_all_mocked=True, using=None
        )
        self.router.route().mock(side_effect=self._answer)
        self.transport = httpx.MockTransport(self.router.async_handler)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        if len(self.received) > self.limit:
            raise ReplayMismatch(
                f"more than {self.limit} requests: the connector does not stop "
                f"(last: {describe_request(request)})"
            )
        for recorded in self.answers.values():
            if self._same_route(recorded, request):
                return recorded.response(request)
        known = ", ".join(f"{m} {p}" for m, p in self.answers)
        raise ReplayMismatch(f"{describe_request(request)} is not in the fixture ({known})")

    def _same_route(self, recorded: RecordedRequest, request: httpx.Request) -> bool:
        route_only = RecordedRequest(recorded.method, recorded.path)
        return request_problem(route_only, request, self.base_path) is None

    def requests_to(self, method: str, path: str) -> list[httpx.Request]:
        """The received requests with this method and path, in order."""
        probe = RecordedRequest(method, path)
        return [r for r in self.received if self._same_route(probe, r)]

    def __enter__(self) -> GroupReplay:
        self.router.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.router.__exit__(exc_type, exc, tb)
