"""Write endpoints of the Pipedrive sandbox: persons and person fields, validated like v2.

Rules from the v2 migration guide (https://pipedrive.readme.io/docs/pipedrive-api-v2-migration-guide):
a new person needs ``name`` or both ``first_name`` and ``last_name`` (not both empty); a name
change on PATCH needs the same; emails and phones are arrays of objects where only ``value`` is
required, ``label`` defaults to ``work`` and at most one entry is primary (the first one when
none is). Unknown body parameters are rejected with v2's "is not allowed for this request".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from .sandbox_fields import CREATABLE_TYPES, FieldSet, check_custom_values
from .sandbox_model import USER_IDS, Person
from .sandbox_params import json_body
from .sandbox_state import ApiError, parse_rfc3339, validation_error

if TYPE_CHECKING:
    from .sandbox import PipedriveSandbox

PERSON_BODY_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "owner_id",
        "org_id",
        "add_time",
        "update_time",
        "emails",
        "phones",
        "im",
        "visible_to",
        "label_ids",
        "marketing_status",
        "custom_fields",
    }
)
FIELD_BODY_KEYS = frozenset(
    {"field_name", "field_type", "options", "ui_visibility", "important_fields", "required_fields"}
)
VISIBILITY = frozenset({1, 3, 5, 7})


def _not_allowed(keys: set[str]) -> ApiError:
    return validation_error(
        "; ".join(f"{k}: Parameter '{k}' is not allowed for this request" for k in sorted(keys))
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _contacts(param: str, value: Any) -> list[dict[str, Any]]:
    """An emails/phones array in v2's object form, with defaults filled in."""
    if not isinstance(value, list):
        raise validation_error(f"{param}: Expected an array of objects")
    entries: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise validation_error(f"{param}: Each item needs a string 'value'")
        extra = set(item) - {"value", "label", "primary"}
        if extra:
            raise _not_allowed({f"{param}.{k}" for k in extra})
        label = item.get("label", "work")
        is_primary = item.get("primary", False)
        if not isinstance(label, str) or not isinstance(is_primary, bool):
            raise validation_error(f"{param}: 'label' must be a string and 'primary' a boolean")
        entries.append({"value": item["value"], "primary": is_primary, "label": label})
    if sum(1 for e in entries if e["primary"]) > 1:
        raise validation_error(f"{param}: Only one item can be marked as primary")
    if entries and not any(e["primary"] for e in entries):
        entries[0]["primary"] = True
    return entries


def _names(body: dict[str, Any], person: Person, *, creating: bool) -> None:
    for key in ("name", "first_name", "last_name"):
        if key in body and not isinstance(body[key], str):
            raise validation_error(f"{key}: Expected 'string' as value")
    has_first, has_last = "first_name" in body, "last_name" in body
    if "name" in body:
        if not body["name"].strip():
            raise validation_error("name: Parameter 'name' can not be empty")
        person.name = body["name"].strip()
        first, _, last = person.name.partition(" ")
        person.first_name, person.last_name = first, last.strip()
    if has_first or has_last:
        if not (has_first and has_last) and "name" not in body:
            raise validation_error(
                "name: Either name or both first_name and last_name must be provided"
            )
        first = body.get("first_name", person.first_name).strip()
        last = body.get("last_name", person.last_name).strip()
        if not first and not last:
            raise validation_error("first_name: first_name and last_name can not both be empty")
        person.first_name, person.last_name = first, last
        if "name" not in body:
            person.name = f"{first} {last}".strip()
    if creating and not person.name:
        raise validation_error(
            "name: Either name or both first_name and last_name must be provided"
        )


def apply_person_body(
    sandbox: PipedriveSandbox, person: Person, body: Any, *, creating: bool
) -> None:
    """Validate a POST/PATCH /api/v2/persons body and apply it to ``person``."""
    if not isinstance(body, dict):
        raise validation_error("body: Expected a JSON object")
    unknown = set(body) - PERSON_BODY_KEYS
    if unknown:
        raise _not_allowed(unknown)
    _names(body, person, creating=creating)
    if "emails" in body:
        person.emails = _contacts("emails", body["emails"])
    if "phones" in body:
        person.phones = _contacts("phones", body["phones"])
    if "owner_id" in body:
        if not _is_int(body["owner_id"]) or body["owner_id"] not in USER_IDS:
            raise validation_error("owner_id: User not found")
        person.owner_id = body["owner_id"]
    if "org_id" in body:
        org_id = body["org_id"]
        if org_id is not None and (not _is_int(org_id) or org_id not in sandbox.orgs):
            raise validation_error("org_id: Organization not found")
        person.org_id = org_id
    if "visible_to" in body:
        if not _is_int(body["visible_to"]) or body["visible_to"] not in VISIBILITY:
            raise validation_error("visible_to: Expected one of 1, 3, 5, 7")
        person.visible_to = body["visible_to"]
    if "label_ids" in body:
        labels = body["label_ids"]
        if not isinstance(labels, list) or not all(_is_int(v) for v in labels):
            raise validation_error("label_ids: Expected an array of numbers")
        person.label_ids = labels
    for stamp in ("add_time", "update_time"):
        if stamp in body:
            if not isinstance(body[stamp], str):
                raise validation_error(f"{stamp}: Expected an RFC 3339 string")
            value = parse_rfc3339(body[stamp], stamp)
            if stamp == "add_time" and creating:
                person.add_time = value
    if "custom_fields" in body:
        person.custom.update(check_custom_values(sandbox.person_fields, body["custom_fields"]))


def create_field(fields: FieldSet, body: Any) -> dict[str, Any]:
    """POST /api/v2/personFields: a new custom field with a 40-hex-char code."""
    if not isinstance(body, dict):
        raise validation_error("body: Expected a JSON object")
    unknown = set(body) - FIELD_BODY_KEYS
    if unknown:
        raise _not_allowed(unknown)
    name, kind = body.get("field_name"), body.get("field_type")
    if not isinstance(name, str) or not name.strip():
        raise validation_error("field_name: Parameter 'field_name' is required")
    if kind not in CREATABLE_TYPES:
        allowed = ", ".join(sorted(CREATABLE_TYPES))
        raise validation_error(f"field_type: Parameter 'field_type' must be one of {allowed}")
    labels = _option_labels(body.get("options"), required=kind in ("enum", "set"))
    return fields.add(name.strip(), str(kind), labels).to_api()


def add_options(fields: FieldSet, code: str, body: Any) -> list[dict[str, Any]]:
    """POST /api/v2/personFields/{field_code}/options: all labels are added or none is."""
    definition = fields.by_code(code)
    if definition is None:
        raise ApiError(404, "Field not found")
    if definition.type not in ("enum", "set"):
        raise validation_error("field_code: Options can only be added to enum and set fields")
    labels = _option_labels(body, required=True)
    return [fields.add_option(definition, label).to_api() for label in labels]


def _option_labels(options: Any, *, required: bool) -> list[str]:
    if options is None:
        if required:
            raise validation_error("options: Options are required for enum and set fields")
        return []
    if not isinstance(options, list) or not all(
        isinstance(o, dict) and isinstance(o.get("label"), str) and o["label"].strip()
        for o in options
    ):
        raise validation_error("options: Expected an array of objects with a 'label'")
    if required and not options:
        raise validation_error("options: Options are required for enum and set fields")
    return [o["label"].strip() for o in options]


class WriteHandlers:
    """POST/PATCH handlers; a rejected request changes nothing."""

    def __init__(self, sandbox: PipedriveSandbox) -> None:
        self.sb = sandbox

    def _custom_codes(self) -> list[str]:
        return [f.code for f in self.sb.person_fields.custom()]

    async def create_person(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = await json_body(request)
        with self.sb.lock:
            stamp = self.sb.write_time(0)
            person = Person(id=0, add_time=stamp, update_time=stamp)
            apply_person_body(self.sb, person, body, creating=True)
            person.id = self.sb.persons.new_id()
            self.sb.persons.insert(person)
            return 200, {"success": True, "data": person.to_api(self._custom_codes())}

    async def update_person(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = await json_body(request)
        with self.sb.lock:
            person = self.sb.persons.live(int(request.path_params["id"]))
            if person is None:
                raise ApiError(404, "Person not found")
            # Validate on a copy so a rejected PATCH changes nothing.
            draft = Person(**{k: getattr(person, k) for k in Person.__dataclass_fields__})
            draft.emails = [dict(e) for e in person.emails]
            draft.phones = [dict(p) for p in person.phones]
            draft.custom = dict(person.custom)
            apply_person_body(self.sb, draft, body, creating=False)
            for key in Person.__dataclass_fields__:
                if key not in ("id", "update_time"):
                    setattr(person, key, getattr(draft, key))
            self.sb.persons.touch(person, self.sb.write_time(person.update_time))
            return 200, {"success": True, "data": person.to_api(self._custom_codes())}

    async def create_person_field(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = await json_body(request)
        with self.sb.lock:
            return 200, {"success": True, "data": create_field(self.sb.person_fields, body)}

    async def add_person_field_options(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = await json_body(request)
        with self.sb.lock:
            code = request.path_params["field_code"]
            return 200, {"success": True, "data": add_options(self.sb.person_fields, code, body)}
