"""A sync world for fault tests: both sandboxes (fault injectors included) and a store, with
settings the test chooses (retries, push attempts, DLQ backoff)."""

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
from smarketing_sync.testing.faults import FaultInjector
from smarketing_sync.testing.population import Population
from smarketing_sync.testing.sandbox import Sandbox, SandboxServer

MA, CRM = "hubspot", "pipedrive"
SCALE = 50.0


@dataclass
class FaultWorld:
    settings: Settings
    store: Store
    sandboxes: dict[str, Any]
    runtimes: dict[str, Runtime]
    urls: dict[str, str]

    def faults(self, name: str) -> FaultInjector:
        injector = self.sandboxes[name].fault_injector
        assert isinstance(injector, FaultInjector)
        return injector

    async def cycle(self, **kwargs: Any) -> dict[str, ConnectorReport]:
        return await Syncer(self.settings, self.store, self.runtimes).run_once(**kwargs)


def norm(email: str) -> str:
    return email.strip().lower()


def emails(sandbox: Sandbox) -> list[str]:
    return sorted(norm(p["email"]) for p in sandbox.people() if p.get("email"))


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "connectors": {MA: {"enabled": True}, CRM: {"enabled": True}},
        "resolve": {"default": "most_recent", "default_order": [CRM, MA]},
        "http": {
            "rate_limit_scale": SCALE,
            "max_backoff_s": 0.2,
            "initial_backoff_s": 0.01,
            "timeout_s": 2.0,
        },
        "api": {"enabled": False},
        # A failed write comes back on the next cycle instead of 30 s later.
        "sync": {"retry_backoff_s": 0.0},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings(**values)


@contextmanager
def fault_world(
    tmp_path: Path, *, people: int = 30, seed: int = 11, **overrides: Any
) -> Iterator[FaultWorld]:
    population = Population.generate((MA, CRM), n_per_tool=people, overlap=0.5, seed=seed)
    settings = settings_for(tmp_path, **overrides)
    with ExitStack() as stack:
        sandboxes: dict[str, Any] = {}
        runtimes: dict[str, Runtime] = {}
        urls: dict[str, str] = {}
        for name in (MA, CRM):
            module = registry.sandbox_module(registry.load_connector(name))
            sandbox = module.create_sandbox(population.for_tool(name), time_scale=SCALE)
            server = stack.enter_context(SandboxServer(sandbox.app()))
            sandboxes[name] = sandbox
            urls[name] = server.url
            runtimes[name] = build_runtime(
                name, settings, overrides=sandbox.connector_settings(server.url)
            )
        store = Store.open(settings.store_url)
        stack.callback(store.dispose)
        yield FaultWorld(settings, store, sandboxes, runtimes, urls)
