"""Field definitions of the Pipedrive sandbox (``/api/v2/personFields``, ``/api/v2/dealFields``).

Custom fields are keyed by 40-hex-char codes in entity payloads; their definitions give the
name, type and, for ``enum``/``set`` fields, the options whose numeric ids the payloads carry.
Value rules follow the v2 migration guide
(https://pipedrive.readme.io/docs/pipedrive-api-v2-migration-guide): numbers are not coerced
from strings, a single option is a number, a multiple option field is an array of numbers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .sandbox_state import ApiError, validation_error

#: field_type values POST /api/v2/personFields accepts (AddPersonFieldRequest in the v2 spec,
#: as generated in pipedrive/client-nodejs src/versions/v2/models/add-person-field-request.ts).
CREATABLE_TYPES = frozenset(
    {
        "varchar",
        "text",
        "double",
        "phone",
        "date",
        "daterange",
        "time",
        "timerange",
        "set",
        "enum",
        "varchar_auto",
        "address",
        "monetary",
        "org",
        "people",
        "user",
    }
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHORT_TEXT = {"varchar": 255, "varchar_auto": 255, "phone": 255, "text": 65_535}


@dataclass(slots=True)
class Option:
    id: int
    label: str

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "color": None}


@dataclass(slots=True)
class FieldDef:
    code: str
    name: str
    type: str
    custom: bool
    options: list[Option] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        return {
            "field_name": self.name,
            "field_code": self.code,
            "field_type": self.type,
            "is_custom_field": self.custom,
            "is_optional_response_field": False,
            "options": [o.to_api() for o in self.options] if self.type in ("enum", "set") else None,
            "subfields": None,
        }

    def option_by_label(self, label: str) -> Option | None:
        wanted = label.strip().casefold()
        return next((o for o in self.options if o.label.casefold() == wanted), None)


class FieldSet:
    """The field definitions of one entity type (persons or deals)."""

    def __init__(self, entity: str, system: Iterable[tuple[str, str, str]]) -> None:
        self.entity = entity
        self.fields = [FieldDef(code, name, kind, False) for code, name, kind in system]
        self._option_ids = 0
        self._created = 0

    def custom(self) -> list[FieldDef]:
        return [f for f in self.fields if f.custom]

    def by_code(self, code: str) -> FieldDef | None:
        return next((f for f in self.fields if f.code == code and f.custom), None)

    def by_name(self, name: str) -> FieldDef | None:
        wanted = " ".join(name.split()).casefold()
        return next(
            (f for f in self.fields if f.custom and " ".join(f.name.split()).casefold() == wanted),
            None,
        )

    def add(self, name: str, field_type: str, options: Iterable[str] = ()) -> FieldDef:
        """A new custom field; its code is a deterministic 40-hex-char hash."""
        self._created += 1
        code = hashlib.sha1(  # noqa: S324 - an identifier, not a security digest
            f"{self.entity}:{name}:{self._created}".encode()
        ).hexdigest()
        definition = FieldDef(code, name, field_type, True)
        for label in options:
            self.add_option(definition, label)
        self.fields.append(definition)
        return definition

    def add_option(self, definition: FieldDef, label: str) -> Option:
        self._option_ids += 1
        option = Option(self._option_ids + (1000 if self.entity == "deal" else 0), label)
        definition.options.append(option)
        return option


def check_custom_values(fields: FieldSet, values: Any) -> dict[str, Any]:
    """Validate a ``custom_fields`` request object; return it keyed by code."""
    if not isinstance(values, dict):
        raise validation_error("custom_fields: Expected an object keyed by custom field codes")
    checked: dict[str, Any] = {}
    for code, value in values.items():
        definition = fields.by_code(code)
        if definition is None:
            # Wording not confirmed from the reference; the 400 itself is the documented
            # behaviour of v2's strict validation for unknown input.
            raise validation_error(
                f"custom_fields.{code}: Custom field '{code}' does not exist for {fields.entity}s"
            )
        checked[code] = check_value(definition, value)
    return checked


def check_value(definition: FieldDef, value: Any) -> Any:
    """One custom field value in its v2 format, or the 400 Pipedrive answers for it."""
    where = f"custom_fields.{definition.code}"
    kind = definition.type
    if value is None:
        return None
    if kind in _SHORT_TEXT:
        if not isinstance(value, str):
            raise validation_error(f"{where}: Expected 'string' as value for {kind} custom field")
        if len(value) > _SHORT_TEXT[kind]:
            raise validation_error(f"{where}: Value is longer than {_SHORT_TEXT[kind]} characters")
        return value
    if kind in ("double", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise validation_error(f"{where}: Expected 'number' as value for numeric custom field")
        return value
    if kind == "enum":
        if isinstance(value, bool) or not isinstance(value, int):
            raise validation_error(
                f"{where}: Expected 'number' as value for single option custom field"
            )
        _known_option(definition, value, where)
        return value
    if kind == "set":
        if not isinstance(value, list) or any(
            isinstance(v, bool) or not isinstance(v, int) for v in value
        ):
            raise validation_error(
                f"{where}: Expected an array of numbers as value for multiple option custom field"
            )
        for option_id in value:
            _known_option(definition, option_id, where)
        return value
    if kind == "date":
        if not isinstance(value, str) or not _DATE.match(value):
            raise validation_error(f"{where}: Expected a date in YYYY-MM-DD format")
        return value
    if kind in ("monetary", "address", "daterange", "timerange"):
        if not isinstance(value, dict) or "value" not in value:
            raise validation_error(f"{where}: Expected an object with a 'value' key")
        return value
    return value


def _known_option(definition: FieldDef, option_id: int, where: str) -> None:
    if all(o.id != option_id for o in definition.options):
        raise ApiError(
            400,
            f"Validation failed: {where}: Option '{option_id}' does not exist "
            f"for field '{definition.name}'",
            code="ERR_SCHEMA_VALIDATION_FAILED",
        )


#: System person fields listed by /api/v2/personFields (field_code, field_name, field_type).
PERSON_SYSTEM_FIELDS = (
    ("name", "Name", "varchar"),
    ("first_name", "First name", "varchar"),
    ("last_name", "Last name", "varchar"),
    ("emails", "Email", "varchar"),
    ("phones", "Phone", "phone"),
    ("owner_id", "Owner", "user"),
    ("org_id", "Organization", "org"),
    ("visible_to", "Visible to", "visible_to"),
    ("label_ids", "Labels", "set"),
    ("add_time", "Person created", "date"),
    ("update_time", "Update time", "date"),
)
DEAL_SYSTEM_FIELDS = (
    ("title", "Title", "varchar"),
    ("value", "Value", "monetary"),
    ("currency", "Currency", "varchar"),
    ("person_id", "Contact person", "people"),
    ("org_id", "Organization", "org"),
    ("pipeline_id", "Pipeline", "double"),
    ("stage_id", "Stage", "stage"),
    ("status", "Status", "status"),
    ("owner_id", "Owner", "user"),
    ("lost_reason", "Lost reason", "varchar"),
    ("add_time", "Deal created", "date"),
    ("update_time", "Update time", "date"),
    ("won_time", "Won time", "date"),
    ("lost_time", "Lost time", "date"),
)
