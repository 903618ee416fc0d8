"""Mapping files: the parsed form (``MappingSpec``), loading with structural validation, and the
check of a mapping against its connector's declaration.

Every problem is reported, not only the first: ``load_mapping`` raises one ``MappingErrors``
listing each ``ConfigError`` with the file, the key, what was expected and what was found.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, get_args

from smarketing_sync.errors import ConfigError
from smarketing_sync.mapping import converters
from smarketing_sync.mapping.apply import Getter, compile_path
from smarketing_sync.mapping.model import (
    ACTIVITY_FIELDS,
    COMPUTED_FIELDS,
    CORE_CUSTOMER_FIELDS,
    DEAL_FIELDS,
)
from smarketing_sync.sdk.declarations import Capability, Endpoint, FieldSpec, RecordKind

if TYPE_CHECKING:
    from smarketing_sync.sdk.protocol import Connector

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
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOP_KEYS = ("connector", "format", "identity", "pull", "push")
_IDENTITY_KEYS = ("match_on", "external_id")
_STREAM_KEYS = {
    "contact": ("kind", "external_id", "updated_at", "deleted", "fields"),
    "activity": (
        *("kind", "external_id", "updated_at", "deleted", "fields"),
        *("type", "occurred_at", "contact"),
    ),
    "deal": ("kind", "external_id", "updated_at", "deleted", "fields", "contact"),
}
_PULL_RULE_KEYS = ("from", "as", "map", "default", "required")
_PUSH_RULE_KEYS = ("from", "as", "map", "default")
_PUSH_KEYS = ("only_changed", "fields", "create")
_CREATE_KEYS = ("label", "type", "options")
_SCALARS = (str, int, float, bool, datetime, date, time)


def load_mapping(path: Path, *, extra_customer_fields: Iterable[str] = ()) -> MappingSpec:
    """Parse a mapping file and validate its structure.

    Args:
        path: the TOML file.
        extra_customer_fields: ``[customer] extra_fields`` of the config, writable like core fields.

    Raises:
        MappingErrors: listing every problem found (a ConfigError).
    """
    file = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        error = ConfigError(f"cannot read the mapping file: {exc.strerror}", file=file)
        raise MappingErrors([error], file=file) from None
    except UnicodeDecodeError as exc:
        error = ConfigError(f"not UTF-8 text (byte {exc.start})", file=file, expected="UTF-8")
        raise MappingErrors([error], file=file) from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingErrors([_toml_error(exc, text, file)], file=file) from None
    loader = _Loader(file, CORE_CUSTOMER_FIELDS | frozenset(extra_customer_fields))
    spec = loader.spec(data)
    if loader.problems or spec is None:
        raise MappingErrors(loader.problems, file=file)
    return spec


def _toml_error(exc: tomllib.TOMLDecodeError, text: str, file: str) -> ConfigError:
    message = str(exc)
    position = _TOML_POSITION.search(message)
    if position is None:
        return ConfigError(f"not valid TOML: {message}", file=file, expected="valid TOML")
    line, column = int(position[1]), int(position[2])
    lines = text.splitlines()
    found = lines[line - 1].strip() if 0 < line <= len(lines) else None
    reason = message[: position.start()]
    return ConfigError(
        f"not valid TOML at line {line}, column {column}: {reason}",
        file=file,
        expected="valid TOML",
        found=found,
    )


class _Loader:
    """Turns parsed TOML into a MappingSpec, collecting every problem on the way."""

    def __init__(self, file: str, customer_fields: frozenset[str]) -> None:
        self.file = file
        self.customer_fields = customer_fields
        self.problems: list[ConfigError] = []

    def error(self, key: str, message: str, expected: str | None = None, found: Any = None) -> None:
        self.problems.append(
            ConfigError(message, file=self.file, key=key or None, expected=expected, found=found)
        )

    def table(self, key: str, value: object, allowed: Sequence[str] | None) -> dict[str, Any]:
        """``value`` as a table, reporting a non-table and every key outside ``allowed``."""
        if not isinstance(value, dict):
            self.error(key, "must be a table", "a table", type(value).__name__)
            return {}
        if allowed is None:
            return value
        for name in value:
            if name not in allowed:
                where = f"{key}.{name}" if key else name
                hint = did_you_mean(name, allowed)
                self.error(where, f"unknown key {name!r}{hint}", _one_of(allowed), name)
        return value

    def path(self, key: str, value: object, *, each: bool = False) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.error(key, "a source path must be a non-empty string", "a dotted path", value)
            return None
        parts = value.split(".")
        if not all(parts):
            self.error(key, "empty segment in path", "segments separated by single dots", value)
            return None
        if "*" in parts and not each:
            message = "'*' (each item) is only allowed in the contact path of a stream"
            self.error(key, message, "a path without '*'", value)
            return None
        return value

    def spec(self, data: dict[str, Any]) -> MappingSpec | None:
        self.table("", data, _TOP_KEYS)
        connector = data.get("connector")
        if not isinstance(connector, str) or not connector.strip():
            expected = 'connector = "<the connector\'s name>"'
            self.error("connector", "missing or empty connector name", expected, connector)
        version = data.get("format")
        if "format" not in data:
            self.error("format", "missing format version", f"format = {FORMAT_VERSION}")
        elif type(version) is not int or version != FORMAT_VERSION:
            message = "unsupported mapping-file format version"
            self.error("format", message, f"format = {FORMAT_VERSION}", version)
        match_on, external_id = self.identity(
            self.table("identity", data.get("identity", {}), _IDENTITY_KEYS)
        )
        pull: dict[str, StreamMapping] = {}
        for stream, body in self.table("pull", data.get("pull", {}), None).items():
            mapping = self.stream(stream, body, match_on, external_id)
            if mapping is not None:
                pull[stream] = mapping
        push: dict[str, PushMapping] = {}
        for obj, body in self.table("push", data.get("push", {}), PUSH_OBJECTS).items():
            section = self.push(obj, body) if obj in PUSH_OBJECTS else None
            if section is not None:
                push[obj] = section
        if not data.get("pull") and not data.get("push"):
            self.error("pull", "the file maps nothing", "at least one [pull.<stream>] section")
        if self.problems or not isinstance(connector, str):
            return None
        return MappingSpec(
            connector.strip(),
            self.file,
            match_on,
            external_id,
            MappingProxyType(pull),
            MappingProxyType(push),
        )

    def identity(self, table: dict[str, Any]) -> tuple[tuple[str, ...], str]:
        match_on = table.get("match_on", ["email"])
        keys: list[str] = []
        if not isinstance(match_on, list) or not all(isinstance(k, str) for k in match_on):
            expected = 'a list of customer fields such as ["email"]'
            self.error("identity.match_on", "must be a list of customer fields", expected, match_on)
            match_on = []
        for name in match_on:
            if name not in self.customer_fields:
                hint = did_you_mean(name, self.customer_fields)
                message = f"unknown customer field {name!r}{hint}"
                self.error("identity.match_on", message, _one_of(self.customer_fields), name)
            elif name in keys:
                self.error("identity.match_on", f"{name!r} is listed twice", found=match_on)
            else:
                keys.append(name)
        external_id = self.path("identity.external_id", table.get("external_id", "id"))
        return tuple(keys), external_id or "id"

    def rule(
        self, key: str, target: str, entry: object, *, push: bool = False, implied: str = ""
    ) -> FieldRule | None:
        """One field entry: a path (pull) or field name (push), or a table."""
        before = len(self.problems)
        if isinstance(entry, str):
            table: dict[str, Any] = {"from": entry}
        elif isinstance(entry, dict):
            table = self.table(key, entry, _PUSH_RULE_KEYS if push else _PULL_RULE_KEYS)
            if "from" not in table:
                wanted = "<customer field>" if push else "<source path>"
                self.error(key, "missing 'from' in the table", f'from = "{wanted}"', entry)
                return None
        else:
            expected = '"<path>" or { from = "<path>", as = "<converter>" }'
            self.error(key, "must be a source path or a table", expected, entry)
            return None
        source = table["from"]
        if not push:
            self.path(key, source)
        elif source not in self.customer_fields | COMPUTED_FIELDS:
            choices = self.customer_fields | COMPUTED_FIELDS
            message = f"unknown customer field or computed value {source!r}"
            self.error(key, message + did_you_mean(str(source), choices), _one_of(choices), source)
        converter = self.converter(key, table.get("as"), push, implied)
        value_map = table.get("map")
        if value_map is not None and not isinstance(value_map, dict):
            expected = '{ value_in_source = "value written", ... }'
            self.error(key, "'map' must be a table", expected, value_map)
        for name, mapped in value_map.items() if isinstance(value_map, dict) else ():
            if not isinstance(mapped, _SCALARS):
                expected = "a string, number, boolean or date"
                self.error(
                    f"{key}.map.{name}", "a map value must be a plain value", expected, mapped
                )
        default = table.get("default")
        if default is not None and not isinstance(default, _SCALARS):
            expected = "a string, number, boolean or date"
            self.error(key, "'default' must be a plain value", expected, default)
        required = table.get("required", False)
        if not isinstance(required, bool):
            self.error(key, "'required' must be true or false", "true or false", required)
        if len(self.problems) > before:
            return None
        frozen = MappingProxyType(dict(value_map)) if isinstance(value_map, dict) else None
        return FieldRule(target, source, converter, frozen, default, required)

    def converter(self, key: str, name: object, push: bool, implied: str) -> str | None:
        registry = converters.PUSH_FORMATS if push else converters.CONVERTERS
        if name is not None and name not in registry:
            kind = "push format" if push else "converter"
            hint = did_you_mean(str(name), registry)
            self.error(key, f"unknown {kind}{hint}", _one_of(registry), name)
            return None
        if implied and name not in (None, implied):
            message = f"this entry is always converted with as = {implied!r}"
            self.error(key, message, f'as = "{implied}" or no "as"', name)
        if name == "country" or implied == "country":
            converters.country_table()  # built here, not on the first record of a pull
        return implied or (name if isinstance(name, str) else None)

    def stream(
        self, stream: str, body: object, match_on: tuple[str, ...], identity_id: str
    ) -> StreamMapping | None:
        base = f"pull.{stream}"
        if not isinstance(body, dict):
            self.error(base, "must be a table", f"a [{base}] table", type(body).__name__)
            return None
        before = len(self.problems)
        kind = body.get("kind")
        if kind not in KINDS:
            self.error(f"{base}.kind", "missing or unknown record kind", _one_of(KINDS), kind)
            return None
        self.table(base, body, _STREAM_KEYS[kind])
        default_id = identity_id if kind == "contact" else "id"
        external_id = self.path(f"{base}.external_id", body.get("external_id", default_id))
        updated_at = self.required_rule(base, "updated_at", body, "datetime")
        deleted = None
        if "deleted" in body:
            deleted = self.rule(f"{base}.deleted", "deleted", body["deleted"], implied="bool")
        fields = self.fields(base, kind, body.get("fields", {}))
        activity_type: str | FieldRule | None = None
        occurred_at = contact = None
        if kind == "activity":
            activity_type = self.activity_type(base, body)
            occurred_at = self.required_rule(base, "occurred_at", body, "datetime")
            if "contact" not in body:
                expected = 'contact = "<path to the contact id or ids>"'
                self.error(f"{base}.contact", "missing contact path", expected)
        if "contact" in body and kind != "contact":
            contact = self.path(f"{base}.contact", body["contact"], each=True)
        # Entries with their own problems still count as mapped: one mistake, one message.
        field_table = body.get("fields", {})
        mapped = set(field_table) if isinstance(field_table, dict) else set()
        for name in match_on if kind == "contact" else ():
            if name not in mapped:
                message = f"identity key {name!r} (identity.match_on) is not mapped"
                self.error(f"{base}.fields", message, f"a {name!r} entry", sorted(mapped))
        if len(self.problems) > before or external_id is None:
            return None
        return StreamMapping(
            stream,
            kind,
            external_id,
            updated_at,
            deleted,
            tuple(fields),
            activity_type,
            occurred_at,
            contact,
        )

    def required_rule(
        self, base: str, name: str, body: dict[str, Any], implied: str
    ) -> FieldRule | None:
        if name not in body:
            expected = f'{name} = {{ from = "<path>", as = "{implied}" }}'
            self.error(f"{base}.{name}", f"missing {name}", expected)
            return None
        return self.rule(f"{base}.{name}", name, body[name], implied=implied)

    def activity_type(self, base: str, body: dict[str, Any]) -> str | FieldRule | None:
        value = body.get("type")
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, dict):
            return self.rule(f"{base}.type", "type", value)
        expected = 'type = "meeting" or type = { from = "<path>", map = { ... } }'
        self.error(f"{base}.type", "missing activity type", expected, value)
        return None

    def fields(self, base: str, kind: str, value: object) -> list[FieldRule]:
        allowed = {"contact": self.customer_fields, "activity": ACTIVITY_FIELDS}.get(
            kind, DEAL_FIELDS
        )
        rules: list[FieldRule] = []
        for target, entry in self.table(f"{base}.fields", value, None).items():
            key = f"{base}.fields.{target}"
            if target not in allowed:
                message = f"unknown {kind} field {target!r}{did_you_mean(target, allowed)}"
                self.error(key, message, _one_of(allowed), target)
                continue
            rule = self.rule(key, target, entry)
            if (
                rule is not None
                and kind == "contact"
                and target == "email"
                and rule.converter != "email"
            ):
                # Identity and the customer's email column compare normalized addresses only.
                message = "the email field must be normalized"
                self.error(key, message, 'as = "email"', rule.converter or "no converter")
                continue
            if rule is not None:
                rules.append(rule)
        return rules

    def push(self, obj: str, body: object) -> PushMapping | None:
        base = f"push.{obj}"
        table = self.table(base, body, _PUSH_KEYS)
        before = len(self.problems)
        only_changed = table.get("only_changed", True)
        if not isinstance(only_changed, bool):
            self.error(
                f"{base}.only_changed", "must be true or false", "true or false", only_changed
            )
        rules = []
        fields = self.table(f"{base}.fields", table.get("fields", {}), None)
        for target, entry in fields.items():
            rule = self.rule(f"{base}.fields.{target}", target, entry, push=True)
            if rule is not None:
                rules.append(rule)
        written = set(fields)  # entries with their own problems still count as written
        create = []
        for name, value in self.table(f"{base}.create", table.get("create", {}), None).items():
            spec = self.create(f"{base}.create.{name}", name, value)
            if spec is not None and name not in written:
                message = "a created field must also be written in the push fields"
                self.error(f"{base}.create.{name}", message, f"[{base}.fields] {name} = ...")
            elif spec is not None:
                create.append(spec)
        if len(self.problems) > before or not isinstance(body, dict):
            return None
        return PushMapping(obj, only_changed is not False, tuple(rules), tuple(create))

    def create(self, key: str, name: str, value: object) -> FieldSpec | None:
        before = len(self.problems)
        table = self.table(key, value, _CREATE_KEYS)
        label = table.get("label", name)
        if not isinstance(label, str) or not label.strip():
            self.error(f"{key}.label", "must be a non-empty string", "a label", label)
        kind = table.get("type", "string")
        if kind not in FIELD_TYPES:
            hint = did_you_mean(str(kind), FIELD_TYPES)
            self.error(f"{key}.type", f"field type not allowed{hint}", _one_of(FIELD_TYPES), kind)
        options = table.get("options", [])
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            self.error(f"{key}.options", "must be a list of strings", '["A", "B"]', options)
        elif kind == "enumeration" and not options:
            self.error(f"{key}.options", "an enumeration needs its options", '["A", "B"]')
        elif kind != "enumeration" and options:
            self.error(f"{key}.options", "only an enumeration has options", "no options", options)
        if len(self.problems) > before:
            return None
        return FieldSpec(name, label, kind, tuple(options))


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
