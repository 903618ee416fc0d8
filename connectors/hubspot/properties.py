"""Creating the custom contact properties we write, inside our own property group.

Properties API (https://developers.hubspot.com/docs/api-reference/latest/crm/properties/guide
and the ``CRM/Properties`` OpenAPI spec): ``GET /crm/v3/properties/contacts`` lists them,
``POST /crm/v3/properties/contacts/batch/create`` creates several "using the same rules as when
creating an individual property" (``POST /crm/v3/properties/contacts``: ``name``, ``label``,
``type``, ``fieldType`` and ``groupName`` are required), ``POST /crm/v3/properties/contacts/groups``
creates a property group. A first run costs three calls, later runs one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smarketing_sync import FieldSpec, Http, RecordError

from .streams import BATCH_LIMIT

PROPERTIES_PATH = "/crm/v3/properties/contacts"
BATCH_CREATE_PATH = "/crm/v3/properties/contacts/batch/create"
GROUPS_PATH = "/crm/v3/properties/contacts/groups"
GROUP_NAME = "smarketing_sync"
GROUP_LABEL = "smarketing-sync"
_ALREADY_EXISTS = "OBJECT_ALREADY_EXISTS"

#: FieldSpec.type -> (HubSpot type, fieldType): the pairs the properties guide lists as valid.
_TYPES: dict[str, tuple[str, str]] = {
    "string": ("string", "text"),
    "number": ("number", "number"),
    "datetime": ("datetime", "date"),
    "enumeration": ("enumeration", "select"),
}


def property_create(spec: FieldSpec) -> dict[str, Any]:
    """The ``PropertyCreate`` body for one of our fields."""
    hubspot_type, field_type = _TYPES[spec.type]
    body: dict[str, Any] = {
        "name": spec.name,
        "label": spec.label,
        "type": hubspot_type,
        "fieldType": field_type,
        "groupName": GROUP_NAME,
        "description": "Written by smarketing-sync; edits in HubSpot are overwritten.",
    }
    if spec.type == "enumeration":
        body["options"] = [
            {"label": option, "value": option, "displayOrder": order, "hidden": False}
            for order, option in enumerate(spec.options)
        ]
    return body


async def _existing(http: Http) -> set[str]:
    body = await http.json(await http.get(PROPERTIES_PATH))
    results = body.get("results") if isinstance(body, dict) else None
    return {str(item.get("name")) for item in results or [] if isinstance(item, dict)}


async def _ensure_group(http: Http) -> None:
    group = {"name": GROUP_NAME, "label": GROUP_LABEL, "displayOrder": -1}
    try:
        await http.post(GROUPS_PATH, json=group)
    except RecordError as exc:
        # 409: the group is there already (an earlier run, or a property deleted by hand since).
        if exc.status != 409:
            raise


async def ensure_properties(http: Http, fields: Sequence[FieldSpec]) -> list[str]:
    """Create the missing properties (and our group, first); return the names created."""
    existing = await _existing(http)
    missing = [spec for spec in fields if spec.name not in existing]
    if not missing:
        return []
    await _ensure_group(http)
    created: list[str] = []
    for start in range(0, len(missing), BATCH_LIMIT):
        inputs = [property_create(spec) for spec in missing[start : start + BATCH_LIMIT]]
        body = await http.json(await http.post(BATCH_CREATE_PATH, json={"inputs": inputs}))
        data = body if isinstance(body, dict) else {}
        created.extend(str(p.get("name")) for p in data.get("results") or [])
        refused = [e for e in data.get("errors") or [] if e.get("category") != _ALREADY_EXISTS]
        if refused:
            reasons = "; ".join(f"{e.get('category')}: {e.get('message')}" for e in refused)
            raise RecordError(f"{http.connector}: HubSpot refused to create properties: {reasons}")
    return created
