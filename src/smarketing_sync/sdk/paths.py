"""Dotted paths into vendor JSON: ``properties.email``, ``emails.0.value``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MISSING: Any = object()


def get_path(record: Any, path: str, default: Any = None) -> Any:
    """Follow a dotted path through dicts and lists; return ``default`` where it stops."""
    node = record
    for part in path.split("."):
        if isinstance(node, Mapping):
            if part not in node:
                return default
            node = node[part]
        elif isinstance(node, Sequence) and not isinstance(node, str | bytes):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                return default
        else:
            return default
    return node


def has_path(record: Any, path: str) -> bool:
    return get_path(record, path, MISSING) is not MISSING
