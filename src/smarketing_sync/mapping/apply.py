"""Apply a mapping: raw vendor records become mapped records (pull), customer values become
vendor values (push).

``map_record`` runs for every pulled record, so paths are compiled once (``compile_path``, at load
time) and the per-record work is plain dict lookups and converter calls. It never raises for bad
data: a record is either mapped (possibly with warnings for dropped fields) or a
``MappingFailure`` naming the field and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from smarketing_sync.errors import ConfigError
from smarketing_sync.mapping.converters import (
    CONVERTERS,
    PUSH_FORMATS,
    KeptAsWritten,
    as_text,
    parse_bool,
    parse_datetime,
    show,
)
from smarketing_sync.mapping.model import (
    Mapped,
    MappedActivity,
    MappedContact,
    MappedDeal,
    MappingFailure,
)
from smarketing_sync.sdk.paths import MISSING
from smarketing_sync.sdk.records import RawRecord

if TYPE_CHECKING:
    from smarketing_sync.mapping.spec import FieldRule, MappingSpec, PushMapping, StreamMapping

log = structlog.get_logger("smarketing_sync.mapping")

# What a converter may raise for a value it cannot take; anything else is a bug, not bad data.
_UNCONVERTIBLE = (ValueError, TypeError, ArithmeticError)


# --- pull --------------------------------------------------------------------------------------
class _Failed(Exception):
    """The record cannot be mapped; becomes a MappingFailure."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def map_key(value: Any) -> str:
    """The string form a value map is looked up with (``true``/``false`` for booleans)."""
    return value if type(value) is str else as_text(value)


def _convert(rule: FieldRule, value: Any, region: str) -> Any:
    """Blank -> the rule's default (None without one); else converter, then value map."""
    if type(value) is str:
        value = value.strip()
        if not value:
            return rule.default
    elif value is None or ((type(value) is list or type(value) is dict) and not value):
        return rule.default
    if rule.converter is not None:
        value = CONVERTERS[rule.converter](value, region)
    if rule.value_map is None:
        return value
    try:
        mapped = rule.value_map.get(map_key(value), MISSING)
    except ValueError:  # a list or an object is simply not one of the listed values
        mapped = MISSING
    if mapped is not MISSING:
        return mapped
    if rule.default is not None:
        return rule.default
    known = ", ".join(sorted(rule.value_map))
    raise ValueError(
        f"{show(value)} is not in the value map (known: {known}) and there is no default"
    )


def _fields(
    rules: tuple[FieldRule, ...],
    raw: RawRecord,
    region: str,
    warnings: list[str],
    identity_keys: tuple[str, ...],
    strict: bool,
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for rule in rules:
        value = rule.read(raw)
        if value is MISSING:
            if rule.required and strict:
                raise _Failed(rule.target, f"{rule.source!r} is missing from the record")
            continue  # not in the record: the tool told us nothing, which is not "blank"
        try:
            value = _convert(rule, value, region)
        except KeptAsWritten as kept:
            warnings.append(f"{rule.target}: {kept} (kept as written)")
            value = kept.value
        except _UNCONVERTIBLE as exc:
            if strict and (rule.required or rule.target in identity_keys):
                raise _Failed(rule.target, str(exc)) from None
            warnings.append(f"{rule.target}: {exc} (field dropped)")
            continue
        if value is None and rule.required and strict:
            raise _Failed(rule.target, f"{rule.source!r} is blank and the field is required")
        fields[rule.target] = value
    return fields


def _id_text(value: Any) -> str:
    if type(value) is str and value.strip():
        return value.strip()
    if type(value) is int or (type(value) is float and value.is_integer()):
        return str(int(value))
    raise ValueError(f"{show(value)} is not an id")


def _external_id(sm: StreamMapping, raw: RawRecord) -> str:
    value = sm.read_external_id(raw)
    if value is MISSING:
        raise _Failed("external_id", f"the record has no id at {sm.external_id!r}")
    try:
        return _id_text(value)
    except ValueError as exc:
        raise _Failed("external_id", str(exc)) from None


def _moment(rule: FieldRule | None, name: str, raw: RawRecord, region: str) -> datetime:
    if rule is None:
        raise _Failed(name, f"the mapping has no {name} for this stream")
    value = rule.read(raw)
    if value is MISSING:
        raise _Failed(name, f"{rule.source!r} is missing from the record")
    try:
        value = _convert(rule, value, region)
        if value is None:
            raise _Failed(name, f"{rule.source!r} is blank")
        return parse_datetime(value)  # also makes a TOML default timezone-aware UTC
    except _UNCONVERTIBLE as exc:
        raise _Failed(name, str(exc)) from None


def _deleted(rule: FieldRule | None, raw: RawRecord, region: str) -> bool:
    if rule is None:
        return False
    value = rule.read(raw)
    if value is MISSING:
        return False
    try:
        value = _convert(rule, value, region)
        return False if value is None else parse_bool(value)
    except _UNCONVERTIBLE as exc:
        # Guessing "not deleted" could bring a deleted person back: dead-letter instead.
        raise _Failed("deleted", str(exc)) from None


def _activity_type(kind: str | FieldRule | None, raw: RawRecord, region: str) -> str:
    if isinstance(kind, str):
        return kind
    if kind is None:
        raise _Failed("type", "the mapping has no activity type for this stream")
    value = kind.read(raw)
    try:
        value = _convert(kind, None if value is MISSING else value, region)
        if value is None:
            raise _Failed("type", f"{kind.source!r} is missing or blank and there is no default")
        return as_text(value)
    except _UNCONVERTIBLE as exc:
        raise _Failed("type", str(exc)) from None


def _contact_ids(sm: StreamMapping, raw: RawRecord, warnings: list[str]) -> tuple[str, ...]:
    if sm.read_contact is None:
        return ()
    value = sm.read_contact(raw)
    items = value if isinstance(value, list | tuple) else (value,)
    ids: dict[str, None] = {}
    for item in items:
        if item is MISSING or item is None or (type(item) is str and not item.strip()):
            continue
        try:
            ids[_id_text(item)] = None
        except ValueError as exc:
            warnings.append(f"contact: {exc} (skipped)")
    if not ids and sm.kind == "activity":
        warnings.append(f"contact: no contact id at {sm.contact!r}; the activity stays unattached")
    return tuple(ids)


def map_record(
    spec: MappingSpec, stream: str, raw: RawRecord, *, default_region: str = "US"
) -> Mapped | MappingFailure:
    """Map one raw record of ``stream``; bad data gives a MappingFailure, never an exception.

    Args:
        spec: the loaded mapping.
        stream: a stream the mapping has a ``[pull.<stream>]`` section for.
        raw: the record in the vendor's shape.
        default_region: region for phone numbers written without a country code.

    Raises:
        ConfigError: only when ``stream`` is not in the mapping (a caller's mistake).
    """
    sm = spec.pull.get(stream)
    if sm is None:
        known = ", ".join(sorted(spec.pull)) or "none"
        raise ConfigError(
            "stream is not in the mapping", file=spec.path, key=f"pull.{stream}", expected=known
        )
    if not isinstance(raw, Mapping):  # typed as a Mapping, but it is vendor JSON after all
        reason = f"the record is not a JSON object (found {type(raw).__name__})"  # type: ignore[unreachable]
        return MappingFailure(spec.connector, stream, None, None, reason, {"record": raw})
    external_id = None
    try:
        external_id = _external_id(sm, raw)
        return _map(spec, sm, raw, external_id, default_region)
    except _Failed as failed:
        return MappingFailure(spec.connector, stream, external_id, failed.field, failed.reason, raw)


def _map(
    spec: MappingSpec, sm: StreamMapping, raw: RawRecord, external_id: str, region: str
) -> Mapped:
    updated_at = _moment(sm.updated_at, "updated_at", raw, region)
    deleted = _deleted(sm.deleted, raw, region)
    warnings: list[str] = []
    identity_keys = spec.match_on if sm.kind == "contact" else ()
    # A deletion must get through even when the rest of the record is unusable: without it the
    # person would stay alive here while the tool has deleted them.
    fields = _fields(sm.fields, raw, region, warnings, identity_keys, strict=not deleted)
    if sm.kind == "contact":
        identity = {k: map_key(fields[k]) for k in identity_keys if fields.get(k) is not None}
        return MappedContact(
            spec.connector,
            sm.stream,
            external_id,
            updated_at,
            identity,
            fields,
            deleted,
            tuple(warnings),
        )
    contact_ids = _contact_ids(sm, raw, warnings)
    if sm.kind == "deal":
        return MappedDeal(
            spec.connector,
            sm.stream,
            external_id,
            updated_at,
            contact_ids,
            fields,
            deleted,
            tuple(warnings),
        )
    return MappedActivity(
        spec.connector,
        sm.stream,
        external_id,
        updated_at,
        _activity_type(sm.activity_type, raw, region),
        _moment(sm.occurred_at, "occurred_at", raw, region),
        contact_ids,
        fields,
        deleted,
        tuple(warnings),
    )


# --- push --------------------------------------------------------------------------------------
def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def render_push(push: PushMapping, values: Mapping[str, Any]) -> dict[str, Any]:
    """Vendor field -> value to write, from customer fields and computed values.

    A field whose source is absent from ``values`` is left out. A blank value gives the rule's
    default (None without one). ``map`` turns a customer value into the tool's value; a value the
    map does not list takes the default or is left out. ``as`` then formats per PUSH_FORMATS.
    """
    rendered: dict[str, Any] = {}
    for rule in push.fields:
        if rule.source not in values:
            continue
        value = values[rule.source]
        if _is_blank(value):
            value = rule.default
            if value is None:
                rendered[rule.target] = None
                continue
        elif rule.value_map is not None:
            try:
                value = rule.value_map.get(map_key(value), rule.default)
            except ValueError:
                value = rule.default
            if value is None:
                continue  # the map does not say what this value is in the tool
        if rule.converter is not None:
            try:
                value = PUSH_FORMATS[rule.converter](value)
            except _UNCONVERTIBLE as exc:
                log.warning(
                    "mapping.push_value_skipped",
                    field=rule.target,
                    source=rule.source,
                    format=rule.converter,
                    reason=str(exc),
                )
                continue
        rendered[rule.target] = value
    return rendered
