"""Mapping files, parsed: ``MappingSpec`` and its parts, and the error type that lists problems.

Loading is in ``load.py`` (structural validation of the TOML), the check against a connector's
declaration in ``check.py``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from smarketing_sync.errors import ConfigError
from smarketing_sync.mapping.paths import Getter, compile_path
from smarketing_sync.sdk.declarations import FieldSpec, RecordKind

if TYPE_CHECKING:
    pass

FORMAT_VERSION = 1
#: Push sections the flow writes; a section for anything else would be silently ignored.
PUSH_OBJECTS = ("contacts",)
KINDS: tuple[RecordKind, ...] = get_args(RecordKind)
FIELD_TYPES: tuple[str, ...] = ("string", "number", "datetime", "enumeration")


# --- the parsed mapping ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FieldRule:
    """One mapped field: ``target = source`` through an optional converter and value map.

    Pull: target is a customer/activity/deal field, source a path in the raw record. Push:
    target is the tool's field name, source a customer field or computed value.
    """

    target: str
    source: str
    converter: str | None = None
    value_map: Mapping[str, Any] | None = None
    default: Any = None
    required: bool = False
    read: Getter = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "read", compile_path(self.source))


@dataclass(frozen=True, slots=True)
class StreamMapping:
    """How the records of one pulled stream become contacts, activities or deals."""

    stream: str
    kind: RecordKind
    external_id: str
    updated_at: FieldRule | None
    deleted: FieldRule | None
    fields: tuple[FieldRule, ...]
    activity_type: str | FieldRule | None = None  # activities: a constant or a rule
    occurred_at: FieldRule | None = None
    contact: str | None = None  # activities/deals: path to the tool's contact id(s)
    read_external_id: Getter = field(init=False, repr=False, compare=False)
    read_contact: Getter | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "read_external_id", compile_path(self.external_id))
        reader = compile_path(self.contact) if self.contact is not None else None
        object.__setattr__(self, "read_contact", reader)


@dataclass(frozen=True, slots=True)
class PushMapping:
    """Customer values written back to one kind of tool object."""

    object: str
    only_changed: bool
    fields: tuple[FieldRule, ...]
    create: tuple[FieldSpec, ...]


@dataclass(frozen=True, slots=True)
class MappingSpec:
    """A loaded, structurally valid mapping file."""

    connector: str
    path: str
    match_on: tuple[str, ...]
    external_id: str
    pull: Mapping[str, StreamMapping]
    push: Mapping[str, PushMapping]

    def source_paths(self, stream: str) -> list[tuple[str, str]]:
        """(key for messages, source path) of every raw path the stream's mapping reads."""
        sm = self.pull[stream]
        base = f"pull.{stream}"
        from_identity = sm.kind == "contact" and sm.external_id == self.external_id
        paths = [
            ("identity.external_id" if from_identity else f"{base}.external_id", sm.external_id)
        ]
        for name in ("updated_at", "deleted", "occurred_at", "activity_type"):
            rule = getattr(sm, name)
            if isinstance(rule, FieldRule):
                paths.append((f"{base}.{'type' if name == 'activity_type' else name}", rule.source))
        if sm.contact is not None:
            paths.append((f"{base}.contact", sm.contact))
        paths.extend((f"{base}.fields.{rule.target}", rule.source) for rule in sm.fields)
        return paths


class MappingErrors(ConfigError):
    """Every problem found in one mapping file (``errors``); the message lists them all."""

    def __init__(self, errors: Sequence[ConfigError], *, file: str) -> None:
        self.errors = list(errors)
        if len(self.errors) == 1:
            text = str(self.errors[0])
        else:
            listed = "\n".join(f"  - {error}" for error in self.errors)
            text = f"{file}: {len(self.errors)} problems in this mapping file:\n{listed}"
        super().__init__(text)
        self.file = file
        if len(self.errors) == 1:  # one problem: its details are the whole story
            only = self.errors[0]
            self.key, self.expected, self.found = only.key, only.expected, only.found


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _one_of(choices: Iterable[str]) -> str:
    return "one of " + ", ".join(sorted(choices))


# --- loading -----------------------------------------------------------------------------------
