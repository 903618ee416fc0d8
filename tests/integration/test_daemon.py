"""`smarketing-sync run`: scheduled syncs, the admin API, and a clean exit on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from smarketing_sync import registry
from smarketing_sync.testing.population import Population
from smarketing_sync.testing.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback only
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_daemon_syncs_on_schedule_serves_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    population = Population.generate(("hubspot", "pipedrive"), n_per_tool=30, seed=3)
    servers = []
    sections = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARKETING_")}
    for name in ("hubspot", "pipedrive"):
        module = registry.sandbox_module(registry.load_connector(name))
        sandbox = module.create_sandbox(population.for_tool(name), time_scale=50)
        server = SandboxServer(sandbox.app()).start()
        servers.append(server)
        settings = sandbox.connector_settings(server.url)
        for key, value in settings.items():
            if "token" in key:
                env[f"SMARKETING_CONNECTORS__{name.upper()}__{key.upper()}"] = str(value)
        plain = "".join(
            f'{key} = "{value}"\n' for key, value in settings.items() if "token" not in key
        )
        sections.append(f"[connectors.{name}]\ninterval_s = 2\n{plain}")
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nmappings_dir = "{ROOT / "mappings"}"\n'
        f'log_format = "json"\n[http]\nrate_limit_scale = 50\n'
        f"[sync]\ngrace_period_s = 10\n[api]\nport = {port}\n" + "\n".join(sections)
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "smarketing_sync.cli", "--config", str(config), "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: get(f"{base}/healthz")[0] == 200, 30, "the health endpoint")
        wait_for(lambda: get(f"{base}/readyz")[0] == 200, 30, "readiness")

        def both_synced() -> bool:
            status, body = get(f"{base}/status")
            if status != 200:
                return False
            connectors = json.loads(body)["connectors"]
            return all(
                connectors.get(n, {}).get("last_run", {}).get("status") == "ok"
                for n in ("hubspot", "pipedrive")
            )

        wait_for(both_synced, 60, "a scheduled sync of both connectors")
        status, metrics = get(f"{base}/metrics")
        assert status == 200
        assert 'smarketing_last_run_ok{connector="pipedrive"} 1' in metrics
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=20)
        _, logs = daemon.communicate()
        assert code == 0, logs[-2000:]
        events = [json.loads(line)["event"] for line in logs.splitlines() if line.startswith("{")]
        assert "daemon.stopping" in events and events[-1] == "daemon.stopped"
    finally:
        if daemon.poll() is None:
            daemon.kill()
        for server in servers:
            server.stop()
