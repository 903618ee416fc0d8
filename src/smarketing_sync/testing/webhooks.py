"""A local webhook receiver for SLA alerts: the demo and the tests point alerts at it.

It records every POST (path, headers, JSON body) and can answer the first N requests with an
error, to show that alerts are retried.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass(slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(slots=True)
class WebhookReceiver:
    """ASGI app: ``POST /<anything>`` is recorded; ``fail_next`` answers that many with 500."""

    received: list[Received] = field(default_factory=list)
    fail_next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            try:
                body: Any = await request.json()
            except ValueError:
                return JSONResponse({"error": "body is not JSON"}, status_code=400)
            with self._lock:
                if self.fail_next > 0:
                    self.fail_next -= 1
                    return JSONResponse({"error": "injected failure"}, status_code=500)
                self.received.append(Received(request.url.path, dict(request.headers), body))
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])

    def bodies(self, path: str | None = None) -> list[Any]:
        with self._lock:
            return [r.body for r in self.received if path is None or r.path == path]
