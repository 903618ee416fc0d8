"""`smarketing-sync run`: the scheduler (APScheduler 3.x), the admin API and clean shutdown.

APScheduler stays behind this one module: a multi-replica mode would replace it with a shared
job queue without touching the flow.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from datetime import UTC, datetime

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from smarketing_sync.api import ApiServer, create_app
from smarketing_sync.flow.cycle import Syncer
from smarketing_sync.flow.runtime import Runtime
from smarketing_sync.settings import Settings
from smarketing_sync.store.db import Store

log = structlog.get_logger("smarketing_sync.daemon")


class Daemon:
    """One sync job per connector at its interval; SIGTERM finishes the batch in flight."""

    def __init__(self, settings: Settings, store: Store, runtimes: Mapping[str, Runtime]) -> None:
        self.settings = settings
        self.store = store
        self.runtimes = dict(runtimes)
        self._stop = asyncio.Event()
        self._running: set[asyncio.Task[object]] = set()
        self.syncer = Syncer(settings, store, runtimes, should_stop=self._stop.is_set)
        self._ready = False

    def request_stop(self, signame: str = "request") -> None:
        if not self._stop.is_set():
            log.info(
                "daemon.stopping", signal=signame, grace_period_s=self.settings.sync.grace_period_s
            )
        self._stop.set()

    async def _tick(self, name: str) -> None:
        if self._stop.is_set():
            return
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            reports = await self.syncer.run_once([name], trigger="schedule")
            report = reports[name]
            log.info("sync.done", connector=name, error=report.error, **report.counts())
        except Exception:  # a bug in one run must not kill the scheduler; it is logged in full
            log.exception("sync.crashed", connector=name)
        finally:
            if task is not None:
                self._running.discard(task)

    def _interval(self, name: str) -> float:
        section = self.settings.connectors.get(name, {})
        return float(section.get("interval_s", self.settings.sync.interval_s))

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        for name in self.runtimes:
            scheduler.add_job(
                self._tick,
                "interval",
                seconds=self._interval(name),
                args=[name],
                id=f"sync:{name}",
                next_run_time=datetime.now(UTC),
            )
        server = None
        server_task = None
        if self.settings.api.enabled:
            import uvicorn

            config = uvicorn.Config(
                create_app(self.store, lambda: self._ready, self.settings),
                host=self.settings.api.host,
                port=self.settings.api.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
            server = ApiServer(config)
            server_task = asyncio.create_task(server.serve())
        scheduler.start()
        self._ready = True
        log.info(
            "daemon.started",
            connectors=list(self.runtimes),
            api=f"http://{self.settings.api.host}:{self.settings.api.port}" if server else None,
        )
        await self._stop.wait()
        scheduler.shutdown(wait=False)
        if self._running:
            _done, pending = await asyncio.wait(
                set(self._running), timeout=self.settings.sync.grace_period_s
            )
            for task in pending:
                log.warning("daemon.grace_exceeded", task=task.get_name())
                task.cancel()
        if server is not None and server_task is not None:
            server.should_exit = True
            await server_task
        log.info("daemon.stopped")
        return 0
