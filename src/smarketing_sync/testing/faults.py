"""Fault injection for any sandbox: an ASGI middleware that makes a vendor misbehave on demand.

Wrap a sandbox app with ``FaultInjector(app, FaultConfig(...))``. For each request (other than
the admin endpoint) one seeded draw decides what the "vendor" does:

=============== ============================================================================
kind            what the client sees
=============== ============================================================================
``status_5xx``  a 5xx answer (one of ``error_statuses``) and nothing written
``timeout``     no answer for ``hang_s`` (beyond the client's timeout), then a dropped socket
``drop``        the status line and half a body, then the connection closes
``429_after``   part of a 429 storm: ``storm_length`` 429s in a row with ``Retry-After``
``429_bare``    the same storm without ``Retry-After``
``slow``        the real answer, ``slow_s`` late
``malformed``   the real answer (a write *did* land) with its body truncated: not JSON
=============== ============================================================================

``timeout`` and ``drop`` happen before the sandbox sees the request, so nothing was written;
``malformed`` happens after, which is the nasty case of a write whose answer was lost.

The admin endpoint ``/__faults`` (on the sandbox's own port) answers ``GET`` with the config
and the faults injected by kind, takes ``PUT`` with a JSON object of config fields to change
(``{"seed": 3}`` also restarts the draw sequence), and ``DELETE`` turns every fault off.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ADMIN_PATH = "/__faults"
KINDS = ("status_5xx", "timeout", "drop", "429_after", "429_bare", "slow", "malformed")


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Shares are per request, drawn in the order of the table in the module docstring."""

    seed: int = 0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)
    timeout_rate: float = 0.0
    hang_s: float = 2.0
    drop_rate: float = 0.0
    storm_rate: float = 0.0  # share of requests that start a 429 storm
    storm_length: int = 3
    retry_after_share: float = 0.5  # share of storms whose 429s carry Retry-After
    retry_after_s: float = 0.05
    slow_rate: float = 0.0
    slow_s: float = 0.2
    malformed_rate: float = 0.0
    methods: tuple[str, ...] = ()  # only these methods ("" = all)
    paths: tuple[str, ...] = ()  # only paths starting with one of these ("" = all)

    def __post_init__(self) -> None:
        total = (
            self.error_rate
            + self.timeout_rate
            + self.drop_rate
            + self.storm_rate
            + self.slow_rate
            + self.malformed_rate
        )
        if any(
            rate < 0
            for rate in (
                self.error_rate,
                self.timeout_rate,
                self.drop_rate,
                self.storm_rate,
                self.slow_rate,
                self.malformed_rate,
            )
        ):
            raise ValueError("fault rates cannot be negative")
        if total > 1:
            raise ValueError(f"fault rates add up to {total:.3f}; at most 1 is possible")

    def updated(self, changes: dict[str, Any]) -> FaultConfig:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        typed: dict[str, Any] = {
            k: tuple(v) if isinstance(getattr(self, k), tuple) else v for k, v in changes.items()
        }
        return replace(self, **typed)

    @classmethod
    def off(cls) -> FaultConfig:
        return cls()


@dataclass(slots=True)
class _Storm:
    left: int = 0
    retry_after: bool = False


@dataclass(slots=True)
class FaultState:
    config: FaultConfig
    rng: random.Random
    counts: Counter[str] = field(default_factory=Counter)
    storm: _Storm = field(default_factory=_Storm)


class FaultInjector:
    """ASGI middleware: ``FaultInjector(app, FaultConfig(error_rate=0.1, seed=1))``."""

    def __init__(self, app: ASGIApp, config: FaultConfig | None = None) -> None:
        self.app = app
        config = config or FaultConfig.off()
        self._state = FaultState(config, random.Random(config.seed))
        self._lock = threading.Lock()  # the sandbox's server thread and tests both touch it

    # -- control from tests ----------------------------------------------------------------

    @property
    def config(self) -> FaultConfig:
        return self._state.config

    def configure(self, config: FaultConfig | None = None, **changes: Any) -> FaultConfig:
        with self._lock:
            new = (config or self._state.config).updated(changes)
            reseed = config is not None or "seed" in changes
            self._state.config = new
            if reseed:
                self._state.rng = random.Random(new.seed)
                self._state.storm = _Storm()
            return new

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._state.counts)

    def injected(self) -> int:
        with self._lock:
            return sum(v for k, v in self._state.counts.items() if k in KINDS)

    # -- the draw ---------------------------------------------------------------------------

    def _applies(self, config: FaultConfig, method: str, path: str) -> bool:
        if config.methods and method not in config.methods:
            return False
        return not config.paths or any(path.startswith(p) for p in config.paths)

    def _draw(self, method: str, path: str) -> tuple[str | None, FaultConfig, int]:
        """The fault for this request (None: behave), the config it was drawn under, a status."""
        with self._lock:
            state = self._state
            config = state.config
            if not self._applies(config, method, path):
                return None, config, 0
            if state.storm.left > 0:
                state.storm.left -= 1
                kind = "429_after" if state.storm.retry_after else "429_bare"
                state.counts[kind] += 1
                return kind, config, 429
            roll = state.rng.random()
            edge = 0.0
            drawn: str | None = None
            for candidate, rate in (
                ("status_5xx", config.error_rate),
                ("timeout", config.timeout_rate),
                ("drop", config.drop_rate),
                ("storm", config.storm_rate),
                ("slow", config.slow_rate),
                ("malformed", config.malformed_rate),
            ):
                edge += rate
                if roll < edge:
                    drawn = candidate
                    break
            if drawn is None:
                state.counts["passed"] += 1
                return None, config, 0
            kind = drawn
            if kind == "storm":
                with_after = state.rng.random() < config.retry_after_share
                state.storm = _Storm(max(0, config.storm_length - 1), with_after)
                kind = "429_after" if with_after else "429_bare"
                state.counts[kind] += 1
                return kind, config, 429
            state.counts[kind] += 1
            status = state.rng.choice(config.error_statuses) if kind == "status_5xx" else 0
            return kind, config, status

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path == ADMIN_PATH:
            await self._admin(method, receive, send)
            return
        kind, config, status = self._draw(method, path)
        if kind is None:
            await self.app(scope, receive, send)
        elif kind == "status_5xx":
            await _json(send, status, {"message": f"injected fault: {status}"})
        elif kind in ("429_after", "429_bare"):
            headers = {"retry-after": f"{config.retry_after_s:g}"} if kind == "429_after" else {}
            await _json(send, 429, {"message": "injected fault: too many requests"}, headers)
        elif kind == "timeout":
            await asyncio.sleep(config.hang_s)
            await _cut(send)
        elif kind == "drop":
            await _cut(send)
        elif kind == "slow":
            await asyncio.sleep(config.slow_s)
            await self.app(scope, receive, send)
        else:  # malformed: the vendor did the work, the answer got mangled on the way
            await self.app(scope, receive, _Truncating(send))

    async def _admin(self, method: str, receive: Receive, send: Send) -> None:
        if method == "PUT":
            body = await _read_body(receive)
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object of fault settings")
                self.configure(**changes)
            except (ValueError, TypeError) as exc:
                await _json(send, 400, {"message": str(exc)})
                return
        elif method == "DELETE":
            self.configure(FaultConfig.off())
        elif method != "GET":
            await _json(send, 405, {"message": "GET, PUT or DELETE"})
            return
        await _json(send, 200, {"config": asdict(self.config), "counts": self.counts()})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


async def _cut(send: Send) -> None:
    """Promise a body, send half of it, stop: the server closes the connection mid-answer."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"data": [', "more_body": True})
    # Returning with the body incomplete makes the server close the socket (one error line in
    # its log), which is what a client sees when a proxy or the vendor drops the connection.


class _Truncating:
    """Buffers the app's answer and sends its first half with a matching content-length."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._start: Message | None = None
        self._body = bytearray()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start = message
            return
        if message["type"] != "http.response.body":
            await self._send(message)
            return
        self._body.extend(message.get("body", b""))
        if message.get("more_body"):
            return
        assert self._start is not None
        body = bytes(self._body[: len(self._body) // 2]) or b"<html>Bad Gateway"
        headers = [
            (k, v) for k, v in self._start.get("headers", []) if k.lower() != b"content-length"
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        status = self._start["status"]
        await self._send(
            {
                "type": "http.response.start",
                "status": 200 if status == 204 else status,
                "headers": headers,
            }
        )
        await self._send({"type": "http.response.body", "body": body})
