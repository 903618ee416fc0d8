"""Loading a mapping file: TOML parsing and structural validation into a ``MappingSpec``.

Every problem is reported, not only the first: ``load_mapping`` raises one ``MappingErrors``
listing each ``ConfigError`` with the file, the key, what was expected and what was found.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import Any

from smarketing_sync.errors import ConfigError
from smarketing_sync.mapping import converters, countries
from smarketing_sync.mapping.load_push import load_push
from smarketing_sync.mapping.model import (
    ACTIVITY_FIELDS,
    COMPUTED_FIELDS,
    CORE_CUSTOMER_FIELDS,
    DEAL_FIELDS,
)
from smarketing_sync.mapping.spec import (
    FORMAT_VERSION,
    KINDS,
    PUSH_OBJECTS,
    FieldRule,
    MappingErrors,
    MappingSpec,
    PushMapping,
    StreamMapping,
    _one_of,
    did_you_mean,
)

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
            section = load_push(self, obj, body) if obj in PUSH_OBJECTS else None
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
            countries.country_table()  # built here, not on the first record of a pull
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
