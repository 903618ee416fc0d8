"""One sync cycle: the only module that knows the order of the stages.

Both the scheduler and the CLI (resync, demo) call ``Syncer``. Each connector's work runs under
its lease in the store, so the daemon, a manual resync and other replicas never sync the same
connector at the same time.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog

from smarketing_sync.errors import AuthError, ConfigError, StoreError, SyncError
from smarketing_sync.flow import push as push_stage
from smarketing_sync.flow.pull import Progress, PullStats, pull_connector
from smarketing_sync.flow.runtime import Runtime
from smarketing_sync.flow.survivorship import Survivorship
from smarketing_sync.sdk.declarations import Capability
from smarketing_sync.sdk.http import Http
from smarketing_sync.settings import Settings
from smarketing_sync.store import state
from smarketing_sync.store.db import Store

log = structlog.get_logger("smarketing_sync.cycle")


class LockBusy(SyncError):
    """Another process is syncing this connector right now."""


@dataclass(slots=True)
class ConnectorReport:
    name: str
    pull: PullStats | None = None
    push: push_stage.PushStats | None = None
    created_fields: list[str] = field(default_factory=list)
    error: str | None = None
    api_calls: dict[str, int] = field(default_factory=dict)
    throttled: int = 0  # 429 answers received (each was waited out and retried)

    def counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = {}
        if self.pull is not None:
            counts.update({f"pull_{k}": v for k, v in self.pull.as_dict().items()})
        if self.push is not None:
            counts.update({f"push_{k}": v for k, v in self.push.as_dict().items()})
        counts["api_calls"] = sum(self.api_calls.values())
        counts["http_429"] = self.throttled
        return counts


def _add_calls(report: ConnectorReport, http: Http) -> None:
    for kind, count in http.calls.items():
        report.api_calls[kind] = report.api_calls.get(kind, 0) + count
    report.throttled += http.statuses.get(429, 0)


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Syncer:
    """Runs pull and push for configured connectors against one store."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        runtimes: Mapping[str, Runtime],
        *,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self.store = store
        self.runtimes = dict(runtimes)
        self.survivorship = Survivorship(settings.resolve)
        self.progress = progress
        self.should_stop = should_stop
        self.holder = holder_id()
        self._fields_ready: set[str] = set()

    def _http(self, rt: Runtime) -> Http:
        return rt.http(self.settings.http)

    # -- leases ---------------------------------------------------------------------------

    def _lease_name(self, connector: str) -> str:
        return f"sync:{connector}"

    def _try_lease(self, connector: str) -> bool:
        ttl = timedelta(seconds=self.settings.sync.lock_ttl_s)
        with self.store.begin() as conn:
            return state.try_lease(
                conn, self._lease_name(connector), self.holder, ttl, self.store.now()
            )

    def _release(self, connector: str) -> None:
        with self.store.begin() as conn:
            state.release_lease(conn, self._lease_name(connector), self.holder)

    async def _keep_lease(self, connector: str) -> None:
        interval = self.settings.sync.lock_ttl_s / 3
        while True:
            await asyncio.sleep(interval)
            try:
                self._try_lease(connector)
            except StoreError as exc:  # the next renewal may succeed; the lease is generous
                log.warning("sync.lease_renew_failed", connector=connector, error=str(exc))

    async def acquire(self, connector: str, *, wait: float | None = None) -> None:
        """Take the connector's lease, waiting up to ``wait`` seconds (None: do not wait)."""
        deadline = asyncio.get_running_loop().time() + (wait or 0)
        announced = False
        while not self._try_lease(connector):
            if wait is None or asyncio.get_running_loop().time() >= deadline:
                with self.store.read() as conn:
                    holder = state.lease_holder(conn, self._lease_name(connector), self.store.now())
                raise LockBusy(f"{connector} is being synced by {holder or 'another process'}")
            if not announced:
                log.info("sync.waiting_for_lock", connector=connector)
                announced = True
            await asyncio.sleep(0.5)

    # -- stages ---------------------------------------------------------------------------

    async def pull(self, report: ConnectorReport, *, full: bool = False) -> PullStats:
        name = report.name
        rt = self.runtimes[name]
        lookback = (
            timedelta(seconds=self.settings.sync.lookback_s)
            if self.settings.sync.lookback_s is not None
            else None
        )
        async with self._http(rt) as http:
            stats = await pull_connector(
                rt,
                http,
                self.store,
                self.survivorship,
                full=full,
                lookback=lookback,
                default_region=self.settings.customer.default_region,
                progress=self.progress,
                should_stop=self.should_stop,
            )
            _add_calls(report, http)
        return stats

    async def push(self, report: ConnectorReport) -> tuple[push_stage.PushStats, list[str]]:
        name = report.name
        rt = self.runtimes[name]
        created: list[str] = []
        stats = push_stage.plan(self.store, rt)
        async with self._http(rt) as http:
            mapping = rt.mapping.push.get(push_stage.PUSH_OBJECT)
            if (
                name not in self._fields_ready
                and mapping is not None
                and mapping.create
                and Capability.CREATE_FIELDS in rt.cls.capabilities
            ):
                created = list(await rt.connector.ensure_fields(http, list(mapping.create)))
                self._fields_ready.add(name)
            sent = await push_stage.send(
                self.store,
                rt,
                http,
                max_attempts=self.settings.sync.max_push_attempts,
                should_stop=self.should_stop,
            )
            _add_calls(report, http)
        for key in ("sent", "updated", "created", "retry_later", "dead_lettered", "batches"):
            setattr(stats, key, getattr(sent, key))
        return stats, created

    # -- whole runs -----------------------------------------------------------------------

    def _can_push(self, name: str) -> bool:
        rt = self.runtimes[name]
        return (
            self.settings.sync.push_enabled
            and Capability.PUSH_FIELDS in rt.cls.capabilities
            and push_stage.PUSH_OBJECT in rt.mapping.push
        )

    async def run_once(
        self,
        names: Iterable[str] | None = None,
        *,
        trigger: str = "schedule",
        full: bool = False,
        wait_for_lock: float | None = None,
    ) -> dict[str, ConnectorReport]:
        """Pull every connector, then push to every connector: one full cycle.

        Pulling all before pushing any means a person new on one side is created on the other
        side in the same cycle. A connector that fails (credentials, outage) is reported and
        the others go on.
        """
        selected = list(names) if names is not None else list(self.runtimes)
        reports = {name: ConnectorReport(name) for name in selected}
        held: list[str] = []
        run_ids: dict[str, int] = {}
        try:
            for name in selected:
                try:
                    await self.acquire(name, wait=wait_for_lock)
                except LockBusy as exc:
                    reports[name].error = str(exc)
                    log.info("sync.skipped", connector=name, reason=str(exc))
                    continue
                held.append(name)
                with self.store.begin() as conn:
                    run_ids[name] = state.start_run(conn, name, trigger, self.store.now())
            keepers = [asyncio.create_task(self._keep_lease(n)) for n in held]
            try:
                for name in held:
                    if self.should_stop():
                        break
                    await self._guard(reports[name], self._pull_into(reports[name], full))
                for name in held:
                    if self.should_stop():
                        break
                    if reports[name].error is None and self._can_push(name):
                        await self._guard(reports[name], self._push_into(reports[name]))
            finally:
                for task in keepers:
                    task.cancel()
        finally:
            for name in held:
                report = reports[name]
                with self.store.begin() as conn:
                    state.finish_run(
                        conn,
                        run_ids[name],
                        "failed" if report.error else "ok",
                        report.counts(),
                        self.store.now(),
                        report.error,
                    )
                self._release(name)
        return reports

    async def _pull_into(self, report: ConnectorReport, full: bool) -> None:
        report.pull = await self.pull(report, full=full)

    async def _push_into(self, report: ConnectorReport) -> None:
        report.push, report.created_fields = await self.push(report)

    async def _guard(self, report: ConnectorReport, work: Any) -> None:
        try:
            await work
        except AuthError as exc:
            report.error = f"credentials refused: {exc} — check the token and its scopes"
            log.error("sync.auth_failed", connector=report.name, error=str(exc))
        except (ConfigError, StoreError) as exc:
            report.error = str(exc)
            log.error("sync.failed", connector=report.name, error=str(exc))
        except SyncError as exc:
            report.error = f"{type(exc).__name__}: {exc}"
            log.error("sync.failed", connector=report.name, error=str(exc))
