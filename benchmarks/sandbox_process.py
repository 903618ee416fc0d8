"""Run connector sandboxes in a child process, so a benchmark measures only the daemon's own
time and memory (the sandboxes hold every synthetic person too)."""

from __future__ import annotations

import multiprocessing as mp
from contextlib import ExitStack
from multiprocessing.connection import Connection
from typing import Any

from smarketing_sync import registry
from smarketing_sync.testing.population import Population
from smarketing_sync.testing.sandbox import Sandbox, SandboxServer


def _serve(
    conn: Connection,
    names: tuple[str, str],
    people: int,
    overlap: float,
    activities: float,
    time_scale: float,
    seed: int,
) -> None:
    population = Population.generate(
        names, n_per_tool=people, overlap=overlap, activities_per_person=activities, seed=seed
    )
    with ExitStack() as stack:
        sandboxes: dict[str, Sandbox] = {}
        answer: dict[str, Any] = {}
        for name in names:
            module = registry.sandbox_module(registry.load_connector(name))
            data = population.for_tool(name)
            sandbox: Sandbox = module.create_sandbox(data, time_scale=time_scale)
            server = stack.enter_context(SandboxServer(sandbox.app()))
            sandboxes[name] = sandbox
            answer[name] = {
                "settings": sandbox.connector_settings(server.url),
                "people": len(data.people),
                "activities": len(data.activities),
                "deals": len(data.deals),
            }
        conn.send(answer)
        while True:
            command = conn.recv()
            if command == "stop":
                return
            if command == "stats":
                conn.send(
                    {
                        name: {
                            "calls": dict(s.calls.calls),
                            "throttled": s.calls.throttled,
                            "people": len(s.people()),
                        }
                        for name, s in sandboxes.items()
                    }
                )
            elif command == "emails":
                conn.send({name: [p["email"] for p in s.people()] for name, s in sandboxes.items()})


class SandboxProcess:
    """``with SandboxProcess(...) as sp: sp.info[name]["settings"]``; ``sp.stats()``."""

    def __init__(
        self,
        names: tuple[str, str],
        *,
        people: int,
        overlap: float = 0.5,
        activities: float = 1.0,
        time_scale: float = 10.0,
        seed: int = 7,
    ) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve,
            args=(child, names, people, overlap, activities, time_scale, seed),
            daemon=True,
        )
        self.info: dict[str, Any] = {}

    def __enter__(self) -> SandboxProcess:
        self._process.start()
        if not self._conn.poll(600):
            raise RuntimeError("the sandboxes did not start within 10 minutes")
        self.info = self._conn.recv()
        return self

    def stats(self) -> dict[str, Any]:
        self._conn.send("stats")
        result: dict[str, Any] = self._conn.recv()
        return result

    def emails(self) -> dict[str, list[str]]:
        self._conn.send("emails")
        result: dict[str, list[str]] = self._conn.recv()
        return result

    def __exit__(self, *exc: object) -> None:
        try:
            self._conn.send("stop")
        finally:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
