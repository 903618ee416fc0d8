"""Source paths of a mapping, compiled once: ``properties.email``, ``emails.0.value``,
``participants.*.person_id`` (``*`` in contact paths only). Mapping a million records walks
these getters, so the common shapes get their own fast closures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from smarketing_sync.sdk.paths import MISSING

#: A compiled source path: raw record -> value, or ``MISSING`` where the path stops.
Getter = Callable[[Any], Any]


def _step(node: Any, key: str, index: int | None) -> Any:
    if isinstance(node, Mapping):
        return node.get(key, MISSING)
    if index is not None and isinstance(node, list | tuple):
        return node[index] if index < len(node) else MISSING
    return MISSING


def _collect(steps: tuple[tuple[str, int | None], ...], node: Any) -> list[Any]:
    nodes = [node]
    for key, index in steps:
        found: list[Any] = []
        for item in nodes:
            if key != "*":
                value = _step(item, key, index)
                if value is not MISSING:
                    found.append(value)
            elif isinstance(item, list | tuple):
                found.extend(item)
            elif isinstance(item, Mapping):
                found.extend(item.values())
        nodes = found
    return nodes


def compile_path(path: str) -> Getter:
    """Split a dotted path once; the getter walks objects by key and lists by index.

    A segment of digits indexes a list (an object with that key is looked up by key). A ``*``
    segment (allowed in ``contact`` paths only) takes every item of a list or value of an object,
    and the getter then returns the list of everything found.
    """
    steps = tuple((p, int(p) if p.isascii() and p.isdigit() else None) for p in path.split("."))
    if any(key == "*" for key, _ in steps):
        return partial(_collect, steps)
    if len(steps) == 1:
        key, index = steps[0]

        def get_one(node: Any) -> Any:
            if type(node) is dict:  # the common case, without isinstance() calls
                return node.get(key, MISSING)
            return _step(node, key, index)

        return get_one

    if len(steps) == 2:  # properties.email: the shape most vendors use
        (first, first_index), (second, second_index) = steps

        def get_two(node: Any) -> Any:
            node = (
                node.get(first, MISSING) if type(node) is dict else _step(node, first, first_index)
            )
            if type(node) is dict:
                return node.get(second, MISSING)
            return MISSING if node is MISSING else _step(node, second, second_index)

        return get_two

    def get(node: Any) -> Any:
        for key, index in steps:
            node = node.get(key, MISSING) if type(node) is dict else _step(node, key, index)
            if node is MISSING:
                return MISSING
        return node

    return get


def has_source_path(record: Any, path: str) -> bool:
    """Whether ``path`` (as a mapping reads it, ``*`` included) finds something in ``record``."""
    found = compile_path(path)(record)
    if "*" in path.split("."):
        return bool(found)  # a list of everything found, empty when nothing was
    return found is not MISSING
