"""What every connector sandbox is built from: a loopback server, vendor-style rate windows.

A sandbox is a stateful local fake of the vendor API subset a connector uses. It is a Starlette
app served by uvicorn on 127.0.0.1 in a background thread, so the real connector talks real HTTP
to it. Limits run on a compressed clock (``time_scale``) so tests and benchmarks hit them fast.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp


class Sandbox(Protocol):
    """What the demo, tests and benchmarks need from any connector's sandbox.

    A connector's ``sandbox`` module exposes ``create_sandbox(data=None, *, time_scale=1.0,
    token="sandbox-token") -> Sandbox`` where ``data`` is a ``population.ToolData`` to seed.
    The person view used below is tool-neutral: ``{"id", "email", "first_name", "last_name",
    "company", "job_title", "phone", "country", "city", "updated_at", "fields": {custom field
    name: value}}`` with the email exactly as the tool stores it.
    """

    name: str
    token: str  # the credential the sandbox accepts
    calls: CallLog

    def app(self) -> ASGIApp: ...

    def connector_settings(self, base_url: str) -> dict[str, Any]:
        """Settings for the real connector to talk to this sandbox at ``base_url``."""
        ...

    def people(self) -> list[dict[str, Any]]:
        """Every (non-deleted) person in the tool-neutral view."""
        ...

    def person_by_email(self, email: str) -> dict[str, Any] | None:
        """The person whose email matches case- and whitespace-insensitively, or None."""
        ...

    def edit_person(self, person_id: str, **changes: Any) -> None:
        """A human edit in the tool: neutral names (first_name, ...) or custom field names.

        Bumps the record's modification time the way the vendor does."""
        ...

    def add_person(self, email: str, **fields: Any) -> str:
        """A person created by a human in the tool; returns its id."""
        ...

    def add_activity(self, person_id: str, type: str, subject: str) -> str:
        """An activity (meeting, call, note, email) logged against a person; returns its id."""
        ...

    def activities(self) -> list[dict[str, Any]]:
        """Every activity: ``{"id", "type", "subject", "person_ids": [...], "occurred_at"}``."""
        ...


@dataclass(slots=True)
class WindowVerdict:
    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # seconds (on the compressed clock) until the window frees a slot


class RateWindow:
    """A vendor's fixed limit of ``requests`` per ``per_seconds``, on a compressed clock."""

    def __init__(self, requests: int, per_seconds: float, time_scale: float = 1.0) -> None:
        self.requests = requests
        self.per_seconds = per_seconds / time_scale
        self.time_scale = time_scale
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def hit(self) -> WindowVerdict:
        with self._lock:
            now = time.monotonic()
            while self._starts and now - self._starts[0] >= self.per_seconds:
                self._starts.popleft()
            if len(self._starts) >= self.requests:
                reset = self.per_seconds - (now - self._starts[0])
                return WindowVerdict(False, self.requests, 0, reset)
            self._starts.append(now)
            remaining = self.requests - len(self._starts)
            reset = self.per_seconds - (now - self._starts[0])
            return WindowVerdict(True, self.requests, remaining, reset)


class CallLog:
    """What a sandbox was asked, for tests and benchmark reports."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.throttled = 0
        self._lock = threading.Lock()

    def record(self, request: Request, route: str) -> None:
        with self._lock:
            self.calls[f"{request.method} {route}"] += 1

    def record_throttle(self) -> None:
        with self._lock:
            self.throttled += 1

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.throttled = 0


def error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


class SandboxServer:
    """Serve an ASGI app on 127.0.0.1 (a free port) in a daemon thread.

    ``with SandboxServer(app) as server: server.url``.
    """

    def __init__(self, app: ASGIApp, *, port: int = 0) -> None:
        self._app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this: without it Nagle + delayed ACKs cost ~40 ms a request.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            daemon=True,
            name=f"sandbox:{self.port}",
        )

    def start(self) -> SandboxServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"sandbox on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
