"""Shared test set-up: run from the repository root so connectors/ and mappings/ are found."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _repository_root() -> None:
    os.chdir(ROOT)


@pytest.fixture(autouse=True)
def _no_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never see a developer's real SMARKETING_* variables.
    for key in list(os.environ):
        if key.startswith("SMARKETING_"):
            monkeypatch.delenv(key)
