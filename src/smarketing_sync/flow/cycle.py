"""One sync cycle: the only module that knows the order of the stages.

Both the scheduler and the CLI (resync, demo) call ``Syncer``. Each connector's work runs under
its lease in the store, so the daemon, a manual resync and other replicas never sync the same
connector at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog

from smarketing_sync import dlq
from smarketing_sync.errors import AuthError, ConfigError, StoreError, SyncError
from smarketing_sync.flow import push as push_stage
from smarketing_sync.flow import score as score_stage
from smarketing_sync.flow import sources, touches
from smarketing_sync.flow.handoff import HandoffStats, build_stage
from smarketing_sync.flow.leases import Leases, LockBusy
from smarketing_sync.flow.pull import Progress, PullStats, pull_connector
from smarketing_sync.flow.runtime import Runtime
from smarketing_sync.flow.survivorship import Survivorship
from smarketing_sync.quota import QuotaBudget, QuotaExhausted
from smarketing_sync.scoring import ScoringModel, find_scoring_file, load_model
from smarketing_sync.sdk.declarations import Capability
from smarketing_sync.sdk.http import Http
from smarketing_sync.settings import Settings
from smarketing_sync.store import state
from smarketing_sync.store.db import Store

log = structlog.get_logger("smarketing_sync.cycle")


@dataclass(slots=True)
class ConnectorReport:
    name: str
    pull: PullStats | None = None
    push: push_stage.PushStats | None = None
    created_fields: list[str] = field(default_factory=list)
    error: str | None = None
    api_calls: dict[str, int] = field(default_factory=dict)
    throttled: int = 0  # 429 answers received (each was waited out and retried)
    handoffs: dict[str, int] | None = None  # the CRM's hand-off stage counts

    def counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = {}
        if self.pull is not None:
            counts.update({f"pull_{k}": v for k, v in self.pull.as_dict().items()})
        if self.push is not None:
            counts.update({f"push_{k}": v for k, v in self.push.as_dict().items()})
        if self.handoffs is not None:
            counts.update({f"handoff_{k}": v for k, v in self.handoffs.items()})
        counts["api_calls"] = sum(self.api_calls.values())
        counts["http_429"] = self.throttled
        return counts


def _add_calls(report: ConnectorReport, http: Http) -> None:
    for kind, count in http.calls.items():
        report.api_calls[kind] = report.api_calls.get(kind, 0) + count
    report.throttled += http.statuses.get(429, 0)


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
        self.leases = Leases(store, settings.sync.lock_ttl_s)
        self._fields_ready: set[str] = set()
        self._budgets: dict[str, QuotaBudget] = {}
        self.scoring: ScoringModel | None = (
            load_model(
                find_scoring_file(settings.scoring_file),
                extra_fields=settings.customer.extra_fields,
            )
            if settings.scoring.enabled
            else None
        )
        self.last_score: score_stage.ScoreStats | None = None
        self.handoffs = build_stage(settings, store, self.runtimes)

    def _http(self, rt: Runtime) -> Http:
        http = rt.http(self.settings.http)
        budget = self._budget(rt.name)
        if budget is not None:
            http.quota_hook = budget.hook
        return http

    def _budget(self, name: str) -> QuotaBudget | None:
        """The connector's daily budget (quota.py), or None when it declares no daily limit."""
        if name in self._budgets:
            return self._budgets[name]
        rt = self.runtimes[name]
        # The same per-account limits the HTTP layer gets (sdk/build.py: rate_limit_for).
        limits_for = getattr(rt.connector, "rate_limit_for", None)
        limits = limits_for(rt.settings) if callable(limits_for) else rt.cls.rate_limit
        if not limits.daily_limit:
            return None
        budget = QuotaBudget(
            self.store,
            name,
            limits.daily_limit,
            self.settings.quota.share(name),
            time_scale=self.settings.http.rate_limit_scale,
        )
        self._budgets[name] = budget
        return budget

    async def acquire(self, connector: str, *, wait: float | None = None) -> None:
        """Take the connector's lease, waiting up to ``wait`` seconds (None: do not wait)."""
        await self.leases.acquire(connector, wait=wait)

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
                should_stop=self._stopper(name),
            )
            _add_calls(report, http)
        return stats

    async def push(self, report: ConnectorReport) -> tuple[push_stage.PushStats, list[str]]:
        name = report.name
        rt = self.runtimes[name]
        created: list[str] = []
        # Transient push failures whose backoff has passed go back into the outbox first, so
        # this very send carries them (dlq.py).
        dlq.retry_due(
            self.store,
            rt,
            self.settings.dlq,
            max_push_attempts=self.settings.sync.max_push_attempts,
        )
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
                retry_backoff_s=self.settings.sync.retry_backoff_s,
                should_stop=self._stopper(name),
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
            keepers = [asyncio.create_task(self.leases.keep(n)) for n in held]
            try:
                for name in held:
                    if self.should_stop():
                        break
                    await self._guard(reports[name], self._pull_into(reports[name], full))
                if held and not self.should_stop():
                    self.facts_before_score()
                    self.score()
                    self.facts_after_score()
                crm = self._handoff_crm(held, reports)
                if crm is not None and not self.should_stop():
                    await self._guard(reports[crm], self._handoffs_before_push(reports[crm]))
                for name in held:
                    if self.should_stop():
                        break
                    if reports[name].error is None and self._can_push(name):
                        await self._guard(reports[name], self._push_into(reports[name]))
                if crm is not None and not self.should_stop() and reports[crm].error is None:
                    await self._guard(reports[crm], self._handoffs_after_push(reports[crm]))
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
                budget = self._budgets.get(name)
                if budget is not None:
                    budget.release()
                self.leases.release(name)
        return reports

    def facts_before_score(self) -> None:
        """Marketing touches from the MA tool's contact analytics (scored, and the KPIs'
        attribution input)."""
        try:
            touches.derive_touches(self.store)
        except StoreError as exc:  # touches catch up next cycle (they follow revisions)
            log.error("touches.failed", error=str(exc))

    def facts_after_score(self) -> None:
        """Each new lead's source, fixed once at lead creation (KPIS §1.5)."""
        capabilities = {name: rt.cls.capabilities for name, rt in self.runtimes.items()}
        try:
            sources.decide_sources(
                self.store,
                self.settings,
                crm=sources.crm_connector(self.settings, capabilities),
            )
        except StoreError as exc:
            log.error("sources.failed", error=str(exc))

    def score(self) -> score_stage.ScoreStats | None:
        """Rescore the customers the pulls touched and those due for decay (before pushes)."""
        if self.scoring is None:
            return None
        try:
            stale_after = timedelta(hours=self.settings.scoring.rescore_after_h)
            self.last_score = score_stage.run(self.store, self.scoring, stale_after=stale_after)
        except StoreError as exc:  # pushes of field changes still go; scores follow next cycle
            log.error("score.failed", error=str(exc))
            return None
        return self.last_score

    # -- hand-offs (flow/handoff.py) ------------------------------------------------------

    def _handoff_crm(self, held: list[str], reports: Mapping[str, ConnectorReport]) -> str | None:
        """The CRM whose hand-offs run this cycle: configured, synced now and not failed."""
        if self.handoffs is None:
            return None
        name = self.handoffs.crm.name
        if name not in held or reports[name].error is not None:
            return None
        return name

    async def _handoffs_before_push(self, report: ConnectorReport) -> None:
        """Read the CRM's answers to open hand-offs, then open new ones (their status is
        pushed in this cycle's push)."""
        assert self.handoffs is not None
        rt = self.runtimes[report.name]
        self.handoffs.stats = HandoffStats()  # counts per cycle
        self._check_quota(report.name)
        async with self._http(rt) as http:
            await self.handoffs.observe(http)
            _add_calls(report, http)
        self.handoffs.open()

    async def _handoffs_after_push(self, report: ConnectorReport) -> None:
        """Create the CRM side (the person exists there after the push), then the SLA."""
        assert self.handoffs is not None
        rt = self.runtimes[report.name]
        self._check_quota(report.name)
        async with self._http(rt) as http:
            await self.handoffs.send(http)
            _add_calls(report, http)
        self.handoffs.check_sla()
        await self.handoffs.deliver()
        report.handoffs = self.handoffs.stats.as_dict()

    def _stopper(self, name: str) -> Callable[[], bool]:
        """Stop after the page or batch in flight: SIGTERM, or the daily budget is spent."""
        budget = self._budget(name)
        if budget is None:
            return self.should_stop
        return lambda: self.should_stop() or budget.reached()

    def _check_quota(self, name: str) -> None:
        budget = self._budget(name)
        if budget is not None:
            budget.check()

    async def _pull_into(self, report: ConnectorReport, full: bool) -> None:
        self._check_quota(report.name)
        report.pull = await self.pull(report, full=full)
        self._check_quota(report.name)  # a pull cut short by the budget: no push on top

    async def _push_into(self, report: ConnectorReport) -> None:
        self._check_quota(report.name)
        report.push, report.created_fields = await self.push(report)
        self._check_quota(report.name)

    async def _guard(self, report: ConnectorReport, work: Any) -> None:
        try:
            await work
        except QuotaExhausted as exc:
            # Not a failure of the data: committed pages and batches stay, the next window
            # resumes from the cursors and the outbox.
            report.error = str(exc)
            log.warning("sync.quota_reached", connector=report.name, resumes_at=exc.resumes_at)
        except AuthError as exc:
            report.error = f"credentials refused: {exc} — check the token and its scopes"
            log.error("sync.auth_failed", connector=report.name, error=str(exc))
        except (ConfigError, StoreError) as exc:
            report.error = str(exc)
            log.error("sync.failed", connector=report.name, error=str(exc))
        except SyncError as exc:
            report.error = f"{type(exc).__name__}: {exc}"
            log.error("sync.failed", connector=report.name, error=str(exc))
