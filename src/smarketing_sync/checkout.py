"""Where the source checkout is, when smarketing-sync runs from one (an editable install).

A built wheel carries the built-in connectors and default mappings inside it. An editable
install does not: there they live in the checkout's top-level ``connectors/`` and ``mappings/``
folders, which must be found from any working directory too.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def checkout_root() -> Path | None:
    """The repository root if this package is imported from ``<root>/src/smarketing_sync``."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "connectors").is_dir():
        return root
    return None


def checkout_dir(name: str) -> Path | None:
    root = checkout_root()
    folder = root / name if root is not None else None
    return folder if folder is not None and folder.is_dir() else None
