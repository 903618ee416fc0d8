"""Run a SQLite unit-test module of tests/unit on PostgreSQL: import its tests and fixtures
into a tests/postgres module that overrides the ``store`` fixture (no copied test code)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from _pytest.fixtures import FixtureFunctionDefinition

UNIT = Path(__file__).resolve().parents[1] / "unit"


def unit_module(name: str) -> ModuleType:
    # pytest imports tests/unit modules by their bare name (rootdir-less "prepend" mode);
    # importing them the same way shares one module object when both tiers run together.
    if str(UNIT) not in sys.path:
        sys.path.insert(0, str(UNIT))
    return importlib.import_module(name)


def reusable_parts(module: ModuleType, *, except_: set[str]) -> dict[str, Any]:
    """The module's ``test_*`` functions and fixtures, but ``store`` and the ones named."""
    picked: dict[str, Any] = {}
    for name, value in vars(module).items():
        if name == "store" or name in except_:
            continue
        if (name.startswith("test_") and callable(value)) or isinstance(
            value, FixtureFunctionDefinition
        ):
            picked[name] = value
    unknown = except_ - set(vars(module))
    assert not unknown, f"{module.__name__} has no {sorted(unknown)}: update the exclusions"
    return picked
