"""The pytest plugin of smarketing-sync (entry point ``pytest11``): markers and live opt-in."""

from __future__ import annotations

import os

import pytest

LIVE_ENV = "SMARKETING_LIVE"

_MARKERS = {
    "live": f"talks to a real vendor account; skipped unless {LIVE_ENV}=1",
    "slow": "takes more than a few seconds",
}


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers the kit uses unless the project already declares them."""
    declared = {
        str(line).split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")
    }
    for name, description in _MARKERS.items():
        if name not in declared:
            config.addinivalue_line("markers", f"{name}: {description}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``live`` tests unless the environment opts in."""
    if os.environ.get(LIVE_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"live test: set {LIVE_ENV}=1 to run against a real account")
    for item in items:
        if item.get_closest_marker("live") is not None:
            item.add_marker(skip)
