"""The admin HTTP API: health, readiness, status and Prometheus metrics."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from smarketing_sync.settings import Settings
from smarketing_sync.status import collect_status
from smarketing_sync.store.db import Store


def create_app(
    store: Store, ready: Callable[[], bool], settings: Settings | None = None
) -> Starlette:
    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        try:
            with store.read() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception as exc:  # any store failure means "not ready", with the reason
            return JSONResponse({"status": "store unavailable", "error": str(exc)}, 503)
        if not ready():
            return JSONResponse({"status": "starting"}, 503)
        return JSONResponse({"status": "ready"})

    async def status(_request: Request) -> Response:
        return JSONResponse(collect_status(store, settings), headers={"cache-control": "no-store"})

    async def metrics(_request: Request) -> Response:
        return PlainTextResponse(
            render_metrics(collect_status(store, settings)), media_type="text/plain; version=0.0.4"
        )

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/status", status),
            Route("/metrics", metrics),
        ]
    )


def render_metrics(status: dict[str, Any]) -> str:
    lines = [
        "# HELP smarketing_customers Customers in the store.",
        "# TYPE smarketing_customers gauge",
        f"smarketing_customers {status['customers']}",
        "# HELP smarketing_outbox_pending Changes waiting to be pushed.",
        "# TYPE smarketing_outbox_pending gauge",
        "# HELP smarketing_dead_letters Records in the dead-letter table, unresolved.",
        "# TYPE smarketing_dead_letters gauge",
        "# HELP smarketing_last_run_ok 1 if the connector's last run succeeded.",
        "# TYPE smarketing_last_run_ok gauge",
    ]
    for name, info in status["connectors"].items():
        label = f'{{connector="{name}"}}'
        lines.append(f"smarketing_outbox_pending{label} {info['outbox_pending']}")
        lines.append(f"smarketing_dead_letters{label} {info['dead_letters']}")
        ok = 1 if info.get("last_run", {}).get("status") == "ok" else 0
        lines.append(f"smarketing_last_run_ok{label} {ok}")
    sla = status.get("sla")
    if sla:
        lines += [
            "# HELP smarketing_sla_met_ratio Hand-offs of the last 30 days that met the SLA clock.",
            "# TYPE smarketing_sla_met_ratio gauge",
        ]
        for clock in ("decision", "first_touch"):
            rate = sla[clock]["rate"]
            if rate is not None:
                lines.append(f'smarketing_sla_met_ratio{{clock="{clock}"}} {rate}')
        lines += [
            "# HELP smarketing_sla_open_breaches Hand-offs whose SLA clock ran out and still runs.",
            "# TYPE smarketing_sla_open_breaches gauge",
            f"smarketing_sla_open_breaches {sla['open_breaches']}",
        ]
    return "\n".join(lines) + "\n"


class ApiServer(uvicorn.Server):
    """uvicorn inside the daemon's own event loop; the daemon handles the signals itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
