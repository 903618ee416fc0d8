"""The kill test: the real daemon, SIGKILLed at random moments, must lose and double nothing.

Both sandboxes run in this (the test's) process with fault injection on; the daemon
(``smarketing-sync run``) is a child process that is killed with SIGKILL at random moments and
started again, while a steady stream of human changes lands on both sides. At the end the
changes stop, the faults stop, the daemon catches up and is stopped with SIGTERM, and:

- every person is on both sides exactly once (nothing duplicated, nothing lost);
- every person's job title is the last one a human typed, on both sides (no update lost);
- the store holds each person once and every activity of each side once;
- every dead letter written on the way was resolved by a retry (none left open).

Because every change is scripted, the end state of a run without kills is known exactly: it is
that expected state, and the run with kills is compared with it.

``SMARKETING_KILLS`` sets the number of kills (default 10); the figures are printed (``-s``)
and written to ``$SMARKETING_KILL_REPORT`` when that is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync import dlq, registry
from smarketing_sync.flow.touches import DERIVED_CONNECTOR
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import activities, customers, outbox, runs
from smarketing_sync.testing.faults import FaultConfig, FaultInjector
from smarketing_sync.testing.population import Population
from smarketing_sync.testing.sandbox import SandboxServer

from .harness import CRM, MA, norm

ROOT = Path(__file__).resolve().parents[2]
SCALE = 50.0
GRACE_S = 5.0
# Read at import: the suite's autouse fixture hides SMARKETING_* variables from the tests.
KILLS = int(os.environ.get("SMARKETING_KILLS", "10"))
KILL_SEED = int(os.environ.get("SMARKETING_KILL_SEED", "20261123"))
REPORT = os.environ.get("SMARKETING_KILL_REPORT")
FAULTS = FaultConfig(
    seed=17,
    error_rate=0.04,
    drop_rate=0.02,
    timeout_rate=0.005,
    hang_s=1.5,  # beyond the daemon's 1 s client timeout
    storm_rate=0.01,
    slow_rate=0.03,
    slow_s=0.05,
    malformed_rate=0.01,
)


@dataclass
class Script:
    """The human side: changes made so far, and what they imply for the end state."""

    rng: random.Random
    sandboxes: dict[str, Any]
    titles: dict[str, str] = field(default_factory=dict)  # email -> last job title typed
    edited_at: dict[str, float] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    changes: Counter[str] = field(default_factory=Counter)
    serial: int = 0

    def step(self) -> None:
        self.serial += 1
        tool = self.rng.choice((MA, CRM))
        sandbox = self.sandboxes[tool]
        roll = self.rng.random()
        if roll < 0.2:
            email = f"kill.{self.serial}@example.com"
            sandbox.add_person(email, first_name="Kill", last_name=f"Test{self.serial}")
            self.added.append(email)
            self.edited_at[email] = time.monotonic()
            self.changes[f"add_{tool}"] += 1
            return
        people = sandbox.people()
        person = self.rng.choice(people)
        email = norm(person["email"])
        if roll < 0.35:
            sandbox.add_activity(person["id"], "call", f"Call {self.serial}")
            self.changes[f"activity_{tool}"] += 1
            return
        # Vendor times have one-second precision: the same person is not edited twice within
        # three seconds, so "the last edit wins" has exactly one answer.
        if time.monotonic() - self.edited_at.get(email, -10.0) < 3.0:
            return
        title = f"Title {self.serial} via {tool}"
        sandbox.edit_person(person["id"], job_title=title)
        self.titles[email] = title
        self.edited_at[email] = time.monotonic()
        self.changes[f"edit_{tool}"] += 1


def _daemon_env(sandboxes: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARKETING_")}
    env["SMARKETING_CONNECTORS__HUBSPOT__ACCESS_TOKEN"] = sandboxes[MA].token
    env["SMARKETING_CONNECTORS__PIPEDRIVE__API_TOKEN"] = sandboxes[CRM].token
    return env


def _config(tmp_path: Path, urls: dict[str, str]) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
data_dir = "{tmp_path / "data"}"
log_format = "json"
log_level = "warning"

[sync]
interval_s = 0.5
lock_ttl_s = 1.0
grace_period_s = {GRACE_S}
max_push_attempts = 3

[http]
rate_limit_scale = {SCALE}
timeout_s = 1.0
max_attempts = 4
initial_backoff_s = 0.02
max_backoff_s = 0.3

[dlq]
backoff_s = 0.2
max_auto_retries = 20

[api]
enabled = false

[connectors.hubspot]
base_url = "{urls[MA]}"

[connectors.pipedrive]
base_url = "{urls[CRM]}"
company_domain = "sandbox"
seats = 10
"""
    )
    return path


@contextmanager
def sandboxes(people: int, seed: int) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    population = Population.generate((MA, CRM), n_per_tool=people, overlap=0.5, seed=seed)
    with ExitStack() as stack:
        found: dict[str, Any] = {}
        urls: dict[str, str] = {}
        for name in (MA, CRM):
            module = registry.sandbox_module(registry.load_connector(name))
            sandbox = module.create_sandbox(population.for_tool(name), time_scale=SCALE)
            server = stack.enter_context(SandboxServer(sandbox.app()))
            found[name], urls[name] = sandbox, server.url
        yield found, urls


class Daemon:
    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self.args = [sys.executable, "-m", "smarketing_sync.cli", "--config", str(config), "run"]
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL, "the daemon died before the kill"

    def stop(self) -> float:
        """SIGTERM; returns how long the daemon took to exit."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=GRACE_S + 20)
        assert self.process.returncode == 0, self.log.read_text()[-3000:]
        return time.monotonic() - started


def _unsettled(store: Store, sandboxes: dict[str, Any], script: Script) -> str | None:
    """Why the world has not settled yet, or None when both sides agree with the script and
    nothing is left to send."""
    with store.read() as conn:
        open_rows = conn.execute(
            sa.select(
                outbox.c.connector, outbox.c.status, outbox.c.attempts, outbox.c.last_error
            ).where(outbox.c.status.in_(["pending", "sending"]))
        ).all()
    if open_rows:
        return f"outbox rows still open: {[tuple(r) for r in open_rows][:5]}"
    sides = {name: {norm(p["email"]): p for p in sb.people()} for name, sb in sandboxes.items()}
    if set(sides[MA]) != set(sides[CRM]):
        return f"people on one side only: {sorted(set(sides[MA]) ^ set(sides[CRM]))[:5]}"
    wrong = [
        (name, email, sides[name][email]["job_title"], title)
        for email, title in script.titles.items()
        for name in (MA, CRM)
        if sides[name][email]["job_title"] != title
    ]
    return f"job titles differ (tool, email, found, typed last): {wrong[:5]}" if wrong else None


def _quiet(store: Store, sandboxes: dict[str, Any], script: Script) -> bool:
    return _unsettled(store, sandboxes, script) is None


def _write_report(figures: dict[str, Any]) -> None:
    if REPORT:
        Path(REPORT).write_text(json.dumps(figures, indent=2))


def _drive_changes(script: Script, stop: threading.Event) -> None:
    while not stop.wait(0.15):
        script.step()


@pytest.mark.slow
async def test_sigkill_at_random_moments_loses_and_doubles_nothing(tmp_path: Path) -> None:
    kills = KILLS
    rng = random.Random(KILL_SEED)
    with sandboxes(people=40, seed=23) as (boxes, urls):
        injectors: dict[str, FaultInjector] = {
            name: sb.fault_injector for name, sb in boxes.items()
        }
        seeded = {norm(p["email"]) for sb in boxes.values() for p in sb.people()}
        daemon = Daemon(_config(tmp_path, urls), _daemon_env(boxes), tmp_path / "daemon.log")
        # Migrated before the daemon starts, so two processes never migrate at once.
        store = Store.open(f"sqlite:///{tmp_path / 'data' / 'smarketing.db'}")
        daemon.start()
        # The first full sync runs without faults or kills: the kills target steady state.
        script = Script(random.Random(rng.random()), boxes)
        try:
            deadline = time.monotonic() + 60
            while not _quiet(store, boxes, script):
                assert time.monotonic() < deadline, "the initial sync did not finish"
                await asyncio.sleep(0.3)
            for injector in injectors.values():
                injector.configure(FAULTS)
            stop = threading.Event()
            changer = threading.Thread(target=_drive_changes, args=(script, stop), daemon=True)
            changer.start()
            started = time.monotonic()
            for _ in range(kills):
                await asyncio.sleep(rng.uniform(0.5, 3.0))
                daemon.kill()
                daemon.start()
            stop.set()
            changer.join()
            faulty_s = time.monotonic() - started
            fault_counts = Counter[str]()
            for injector in injectors.values():
                fault_counts.update({k: v for k, v in injector.counts().items() if k != "passed"})
                injector.configure(FaultConfig.off())
            # A send that failed is retried after the outbox's backoff (30 s, then 60 s), and
            # one dead-lettered after that by the DLQ's own: catching up can take minutes.
            settle_start = time.monotonic()
            while not _quiet(store, boxes, script) or dlq.list_letters(store):
                assert time.monotonic() < settle_start + 240, (
                    f"no convergence after the kills: {_unsettled(store, boxes, script)}; "
                    f"open dead letters: {dlq.list_letters(store)}"
                )
                await asyncio.sleep(0.5)
            settle_s = time.monotonic() - settle_start
            await asyncio.sleep(1.5)  # one more cycle each: it must write nothing new
            assert _quiet(store, boxes, script)
            stop_s = daemon.stop()
        finally:
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.process.kill()

        people = {
            name: Counter(norm(p["email"]) for p in sb.people()) for name, sb in boxes.items()
        }
        duplicates = {name: [e for e, n in c.items() if n > 1] for name, c in people.items()}
        expected = seeded | set(script.added)
        lost = {name: sorted(expected - set(c)) for name, c in people.items()}
        lost_updates = [
            (email, name)
            for email, title in script.titles.items()
            for name, sb in boxes.items()
            if (sb.person_by_email(email) or {}).get("job_title") != title
        ]
        with store.read() as conn:
            store_people = Counter(
                norm(e) for e in conn.execute(sa.select(customers.c.email)).scalars()
            )
            # touches derived from contact analytics (flow/touches.py) are not pulled records
            store_acts = Counter(
                conn.execute(
                    sa.select(activities.c.connector).where(
                        activities.c.connector != DERIVED_CONNECTOR
                    )
                )
                .scalars()
                .all()
            )
            # A run row left 'running' is a sync the kill cut off in the middle.
            cut = conn.execute(
                sa.select(sa.func.count()).select_from(runs).where(runs.c.status == "running")
            ).scalar_one()
            finished = conn.execute(
                sa.select(sa.func.count()).select_from(runs).where(runs.c.status != "running")
            ).scalar_one()
        letters = dlq.summary(store)
        store.dispose()
        figures = {
            "kills": kills,
            "seconds_under_faults": round(faulty_s, 1),
            "seconds_to_settle_after": round(settle_s, 1),
            "human_changes": dict(script.changes),
            "faults_injected": dict(sorted(fault_counts.items())),
            "sync_runs_cut_by_a_kill": cut,
            "sync_runs_finished": finished,
            "people_lost": sum(len(v) for v in lost.values()),
            "updates_lost": len(lost_updates),
            "duplicates": sum(len(v) for v in duplicates.values()),
            "dead_letters": letters,
            "sigterm_exit_s": round(stop_s, 2),
        }
        print("\nkill test figures: " + json.dumps(figures, indent=2))
        _write_report(figures)
        assert duplicates == {MA: [], CRM: []}
        assert lost == {MA: [], CRM: []}
        assert lost_updates == []
        assert set(store_people) == expected and max(store_people.values()) == 1
        assert store_acts == {name: len(sb.activities()) for name, sb in boxes.items()}
        assert all("open" not in counts for counts in letters.values()), letters
        assert sum(fault_counts.values()) > 0
        assert stop_s < GRACE_S + 5


def _runs(store: Store, status: str) -> int:
    with store.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(runs).where(runs.c.status == status)
            ).scalar_one()
        )


@pytest.mark.slow
async def test_sigterm_ends_the_daemon_within_the_grace_period(tmp_path: Path) -> None:
    with sandboxes(people=40, seed=29) as (boxes, urls):
        for sandbox in boxes.values():  # every answer is slow: a run is always in flight
            sandbox.fault_injector.configure(slow_rate=1.0, slow_s=0.25)
        store = Store.open(f"sqlite:///{tmp_path / 'data' / 'smarketing.db'}")
        daemon = Daemon(_config(tmp_path, urls), _daemon_env(boxes), tmp_path / "daemon.log")
        daemon.start()
        try:
            deadline = time.monotonic() + 30
            while _runs(store, "running") == 0:
                assert time.monotonic() < deadline, "no sync run started"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # well inside the first (slow) initial sync
            assert _runs(store, "running") > 0
            took = daemon.stop()
        finally:
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.process.kill()
        print(f"\nSIGTERM during a run: the daemon exited after {took:.2f} s (grace {GRACE_S} s)")
        assert took < GRACE_S + 2
        # The run in flight was closed as a run, not left behind as if the daemon had crashed.
        assert _runs(store, "running") == 0
        # What it had not done yet is done by the next start: nothing was lost.
        for sandbox in boxes.values():
            sandbox.fault_injector.configure(FaultConfig.off())
        daemon.start()
        script = Script(random.Random(1), boxes)
        try:
            deadline = time.monotonic() + 60
            while not _quiet(store, boxes, script):
                assert time.monotonic() < deadline, _unsettled(store, boxes, script)
                await asyncio.sleep(0.3)
            daemon.stop()
        finally:
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.process.kill()
        store.dispose()
        for sandbox in boxes.values():
            counts = Counter(norm(p["email"]) for p in sandbox.people())
            assert max(counts.values()) == 1
