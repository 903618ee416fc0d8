"""The connector conformance kit, plus the sandbox and population building blocks.

``from smarketing_sync.testing import ConnectorConformance, load_connector`` is all a connector's
test file needs (see ``docs/connectors.md``). The kit needs the ``testing`` extra (pytest,
respx); every name is imported on first use, so the daemon's demo (which uses the sandbox and
population modules) runs without them, and the pytest plugin costs nothing to load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smarketing_sync.registry import load_connector
    from smarketing_sync.testing.conformance import ConnectorConformance
    from smarketing_sync.testing.conformance_base import settings_from_env
    from smarketing_sync.testing.conformance_replay import (
        GroupReplay,
        Replay,
        ReplayMismatch,
        subset_problem,
    )
    from smarketing_sync.testing.conformance_support import (
        FakeTime,
        base_url_of,
        make_http,
    )
    from smarketing_sync.testing.fixtures import (
        FixtureError,
        PushFixture,
        RecordedRequest,
        StreamFixture,
        load_push_fixture,
        load_stream_fixture,
    )
    from smarketing_sync.testing.population import Population, ToolData
    from smarketing_sync.testing.sandbox import CallLog, RateWindow, Sandbox, SandboxServer

_LAZY = {
    "load_connector": "smarketing_sync.registry",
    "ConnectorConformance": "conformance",
    "settings_from_env": "conformance_base",
    "FakeTime": "conformance_support",
    "base_url_of": "conformance_support",
    "make_http": "conformance_support",
    "FixtureError": "fixtures",
    "GroupReplay": "conformance_replay",
    "PushFixture": "fixtures",
    "RecordedRequest": "fixtures",
    "Replay": "conformance_replay",
    "ReplayMismatch": "conformance_replay",
    "StreamFixture": "fixtures",
    "load_push_fixture": "fixtures",
    "load_stream_fixture": "fixtures",
    "subset_problem": "conformance_replay",
    "Population": "population",
    "ToolData": "population",
    "CallLog": "sandbox",
    "RateWindow": "sandbox",
    "Sandbox": "sandbox",
    "SandboxServer": "sandbox",
}

__all__ = [
    "CallLog",
    "ConnectorConformance",
    "FakeTime",
    "FixtureError",
    "GroupReplay",
    "Population",
    "PushFixture",
    "RateWindow",
    "RecordedRequest",
    "Replay",
    "ReplayMismatch",
    "Sandbox",
    "SandboxServer",
    "StreamFixture",
    "ToolData",
    "base_url_of",
    "load_connector",
    "load_push_fixture",
    "load_stream_fixture",
    "make_http",
    "settings_from_env",
    "subset_problem",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    qualified = module if "." in module else f"{__name__}.{module}"
    value = getattr(importlib.import_module(qualified), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
