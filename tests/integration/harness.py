"""A whole smarketing-sync world for integration tests: both sandboxes on loopback + a store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smarketing_sync import registry
from smarketing_sync.flow.cycle import ConnectorReport, Syncer
from smarketing_sync.flow.runtime import Runtime, build_runtime
from smarketing_sync.settings import Settings
from smarketing_sync.store.db import Store
from smarketing_sync.testing.population import Population
from smarketing_sync.testing.sandbox import Sandbox, SandboxServer

MA, CRM = "hubspot", "pipedrive"
SCALE = 50.0


@dataclass
class World:
    settings: Settings
    store: Store
    sandboxes: dict[str, Sandbox]
    runtimes: dict[str, Runtime]

    @property
    def ma(self) -> Sandbox:
        return self.sandboxes[MA]

    @property
    def crm(self) -> Sandbox:
        return self.sandboxes[CRM]

    def syncer(self, **kwargs: Any) -> Syncer:
        return Syncer(self.settings, self.store, self.runtimes, **kwargs)

    async def cycle(self, **kwargs: Any) -> dict[str, ConnectorReport]:
        reports = await self.syncer().run_once(**kwargs)
        for report in reports.values():
            assert report.error is None, report.error
        return reports


def writes(reports: dict[str, ConnectorReport]) -> int:
    return sum(r.push.created + r.push.updated for r in reports.values() if r.push)


def norm(email: str) -> str:
    return email.strip().lower()


def emails(sandbox: Sandbox) -> list[str]:
    return sorted(norm(p["email"]) for p in sandbox.people() if p.get("email"))


@contextmanager
def world(
    tmp_path: Path,
    *,
    people: int = 60,
    resolve: dict[str, Any] | None = None,
    seed: int = 11,
    extra: dict[str, Any] | None = None,
) -> Iterator[World]:
    population = Population.generate((MA, CRM), n_per_tool=people, overlap=0.5, seed=seed)
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        connectors={MA: {"enabled": True}, CRM: {"enabled": True}},
        resolve=resolve or {"default": "most_recent", "default_order": [CRM, MA]},
        http={"rate_limit_scale": SCALE, "max_backoff_s": 0.5, "initial_backoff_s": 0.05},
        api={"enabled": False},
        **(extra or {}),
    )
    with ExitStack() as stack:
        sandboxes: dict[str, Sandbox] = {}
        runtimes: dict[str, Runtime] = {}
        for name in (MA, CRM):
            module = registry.sandbox_module(registry.load_connector(name))
            sandbox: Sandbox = module.create_sandbox(population.for_tool(name), time_scale=SCALE)
            server = stack.enter_context(SandboxServer(sandbox.app()))
            sandboxes[name] = sandbox
            runtimes[name] = build_runtime(
                name, settings, overrides=sandbox.connector_settings(server.url)
            )
        store = Store.open(settings.store_url)
        stack.callback(store.dispose)
        yield World(settings, store, sandboxes, runtimes)
