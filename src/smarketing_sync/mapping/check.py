"""Checking a mapping against its connector's declaration (streams, kinds, documented fields)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from smarketing_sync.errors import ConfigError
from smarketing_sync.mapping.spec import MappingSpec, _one_of, did_you_mean
from smarketing_sync.sdk.declarations import Capability, Endpoint

if TYPE_CHECKING:
    from smarketing_sync.sdk.protocol import Connector


# --- checking against the connector ------------------------------------------------------------
def _is_index(segment: str) -> bool:
    return segment == "*" or (segment.isascii() and segment.isdigit())


def path_is_documented(path: str, documented: Iterable[str]) -> bool:
    """Whether a mapping path is one of a stream's documented ``Endpoint.fields``.

    Segment by segment: equal segments match; a list index (``0``) or ``*`` matches any index
    or ``*`` on the other side; a documented ``*`` in the middle matches any one segment; a
    documented path ending in ``.*`` admits its prefix and anything below it.
    """
    parts = path.split(".")
    return any(_matches(parts, entry.split(".")) for entry in documented)


def _matches(parts: list[str], doc: list[str]) -> bool:
    for i, want in enumerate(doc):
        if want == "*" and i == len(doc) - 1:
            return len(parts) >= i
        if i >= len(parts):
            return False
        have = parts[i]
        if want not in (have, "*") and not (_is_index(have) and _is_index(want)):
            return False
    return len(parts) == len(doc)


def _closest(path: str, documented: frozenset[str]) -> str:
    close = difflib.get_close_matches(path, sorted(documented), n=3, cutoff=0.5)
    return ", ".join(close or sorted(documented)[:3])


def check_mapping(spec: MappingSpec, connector: type[Connector]) -> list[ConfigError]:
    """Check a loaded mapping against its connector's declaration; return every problem."""
    problems: list[ConfigError] = []

    def error(key: str, message: str, expected: str, found: object) -> None:
        problems.append(
            ConfigError(message, file=spec.path, key=key, expected=expected, found=found)
        )

    if spec.connector != connector.name:
        error(
            "connector",
            "the mapping is for another connector",
            repr(connector.name),
            spec.connector,
        )
    declared: Mapping[str, Endpoint] = connector.streams
    for stream, mapping in spec.pull.items():
        endpoint = declared.get(stream)
        if endpoint is None:
            message = f"{connector.name} has no stream {stream!r}{did_you_mean(stream, declared)}"
            error(
                f"pull.{stream}", message, _one_of(declared) if declared else "no streams", stream
            )
            continue
        if endpoint.kind != mapping.kind:
            message = f"{connector.name} stream {stream!r} holds {endpoint.kind} records"
            error(f"pull.{stream}.kind", message, repr(endpoint.kind), mapping.kind)
        if not endpoint.fields:
            continue
        for key, path in spec.source_paths(stream):
            if not path_is_documented(path, endpoint.fields):
                message = (
                    f"source path {path!r} is not a field of {connector.name} stream {stream!r}"
                )
                expected = (
                    f"one of the stream's documented fields, e.g. {_closest(path, endpoint.fields)}"
                )
                error(key, message, expected, path)
    capabilities = connector.capabilities
    for obj, push in spec.push.items():
        if Capability.PUSH_FIELDS not in capabilities:
            message = f"{connector.name} cannot push fields"
            error(
                f"push.{obj}",
                message,
                f"capability {Capability.PUSH_FIELDS.value}",
                sorted(capabilities),
            )
        if push.create and Capability.CREATE_FIELDS not in capabilities:
            message = f"{connector.name} cannot create custom fields"
            error(
                f"push.{obj}.create",
                message,
                f"capability {Capability.CREATE_FIELDS.value}",
                sorted(capabilities),
            )
    return problems
