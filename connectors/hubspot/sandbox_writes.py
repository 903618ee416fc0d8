"""Sandbox handlers that change the portal: contact batch update/upsert and property creation.

Batch semantics follow the CRM objects guide
(https://developers.hubspot.com/docs/api-reference/latest/crm/objects/guide) and the
error-handling guide (https://developers.hubspot.com/docs/api-reference/error-handling):

- at most 100 inputs; the same id twice is refused;
- when every input carries a unique ``objectWriteTraceId`` the valid inputs are written and the
  others come back as ``errors[]`` of a 207 Multi-Status answer, each naming its trace id;
- otherwise one invalid input refuses the whole batch with a single 400, nothing written;
- upsert by ``idProperty: "email"`` is always all-or-nothing ("partial upserts are not supported
  when using email as the idProperty").
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .sandbox_handoff_schema import moves_lifecycle_back
from .sandbox_schema import PROPERTY_NAME, InvalidValue, PropertyDef, check_value, iso_ms
from .sandbox_store import CrmObject, Portal

BATCH_LIMIT = 100
Answer = tuple[int, dict[str, Any]]

#: type -> fieldTypes the properties guide allows with it.
FIELD_TYPES = {
    "bool": {"booleancheckbox", "calculation_equation"},
    "enumeration": {"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"},
    "date": {"date"},
    "datetime": {"date"},
    "string": {"file", "text", "textarea", "calculation_equation", "html", "phonenumber"},
    "number": {"number", "calculation_equation"},
    "phone_number": {"phonenumber"},
}


def error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    """HubSpot's error document (error-handling guide, "Common error responses")."""
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


def invalid_values_message(problems: list[InvalidValue]) -> str:
    listed = json.dumps([p.as_json() for p in problems], separators=(",", ":"))
    return f"Property values were not valid: {listed}"


@dataclass(slots=True)
class Failure:
    category: str
    message: str
    status: int
    problems: list[InvalidValue]
    context: dict[str, list[str]]


class BadRequest(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.status = status
        self.body = body


def _inputs(payload: Any, limit: int = BATCH_LIMIT) -> list[dict[str, Any]]:
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise BadRequest(400, error_body("VALIDATION_ERROR", "Invalid input JSON: inputs"))
    if not 1 <= len(inputs) <= limit:
        message = f"Batch input size must be between 1 and {limit} (received {len(inputs)})"
        raise BadRequest(400, error_body("VALIDATION_ERROR", message))
    return inputs


def _duplicates(ids: list[str]) -> None:
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        message = f"Duplicate IDs found in batch input: {repeated}"
        raise BadRequest(400, error_body("VALIDATION_ERROR", message))


def _properties(item: dict[str, Any]) -> dict[str, Any]:
    properties = item.get("properties")
    if not isinstance(properties, dict):
        raise BadRequest(400, error_body("VALIDATION_ERROR", "Invalid input JSON: properties"))
    return properties


def _check(portal: Portal, properties: Mapping[str, Any]) -> list[InvalidValue]:
    defs = portal.properties["contacts"]
    found = (check_value(defs.get(name), name, value) for name, value in properties.items())
    return [p for p in found if p is not None]


def _validation(problems: list[InvalidValue], context: dict[str, list[str]]) -> Failure:
    return Failure("VALIDATION_ERROR", invalid_values_message(problems), 400, problems, context)


def _email_conflict(
    portal: Portal, properties: Mapping[str, Any], owner: CrmObject | None
) -> Failure | None:
    email = properties.get("email")
    if not email:
        return None
    other = portal.contact_by_email(str(email))
    if other is None or (owner is not None and other.id == owner.id):
        return None
    return Failure("CONFLICT", f"Contact already exists. Existing ID: {other.id}", 409, [], {})


def _whole_batch(failure: Failure) -> BadRequest:
    extra: dict[str, Any] = {}
    if failure.problems:
        extra["errors"] = [
            {"message": p.message, "code": p.error, "context": {"propertyName": [p.name]}}
            for p in failure.problems
        ]
    if failure.context:
        extra["context"] = failure.context
    return BadRequest(failure.status, error_body(failure.category, failure.message, **extra))


def _result(obj: CrmObject, written: Mapping[str, Any], trace: Any) -> dict[str, Any]:
    names = [*written, "hs_object_id", "lastmodifieddate", "createdate"]
    result = obj.as_json(dict.fromkeys(names))
    if trace is not None:
        result["objectWriteTraceId"] = trace
    return result


def _batch_answer(
    results: list[dict[str, Any]], errors: list[dict[str, Any]], started: int, portal: Portal
) -> Answer:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso_ms(started),
        "completedAt": iso_ms(portal.clock.now_ms()),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return 207, body
    return 200, body


def _traces(inputs: list[dict[str, Any]]) -> list[Any] | None:
    """The inputs' trace ids when every input has a distinct one (multi-status enabled)."""
    traces = [item.get("objectWriteTraceId") for item in inputs]
    if all(isinstance(t, str) and t for t in traces) and len(set(traces)) == len(traces):
        return traces
    return None


def api_write(obj: CrmObject, properties: Mapping[str, Any]) -> Mapping[str, Any]:
    """What an API write really changes: a lifecycle stage moves forward only (see
    ``moves_lifecycle_back``); a backward value is dropped silently, the answer shows the stage
    the contact keeps."""
    if moves_lifecycle_back(obj.properties.get("lifecyclestage"), properties.get("lifecyclestage")):
        return {k: v for k, v in properties.items() if k != "lifecyclestage"}
    return properties


def batch_update(portal: Portal, payload: Any) -> Answer:
    """``POST /crm/v3/objects/contacts/batch/update``."""
    inputs = _inputs(payload)
    ids = [str(item.get("id", "")) for item in inputs]
    _duplicates(ids)
    traces = _traces(inputs)
    table = portal.tables["contacts"]
    plans: list[tuple[int, CrmObject, dict[str, Any]]] = []
    failures: list[tuple[int, Failure]] = []
    for index, item in enumerate(inputs):
        properties = _properties(item)
        id_property = item.get("idProperty")
        if id_property not in (None, "hs_object_id", "email"):
            message = f"Unable to perform update/upsert by non-unique 0-1 property {id_property}"
            raise BadRequest(400, error_body("VALIDATION_ERROR", message))
        obj = (
            portal.contact_by_email(ids[index])
            if id_property == "email"
            else table.objects.get(int(ids[index]))
            if ids[index].isdigit()
            else None
        )
        if obj is None or obj.archived:
            failures.append(
                (
                    index,
                    Failure(
                        "OBJECT_NOT_FOUND",
                        "Object not found. objectId are usually numeric.",
                        404,
                        [],
                        {"ids": [ids[index]]},
                    ),
                )
            )
            continue
        problems = _check(portal, properties)
        if problems:
            failures.append((index, _validation(problems, {})))
            continue
        conflict = _email_conflict(portal, properties, obj)
        if conflict is not None:
            failures.append((index, conflict))
            continue
        plans.append((index, obj, properties))
    if failures and traces is None:
        raise _whole_batch(failures[0][1])
    started = portal.clock.now_ms()
    results = []
    for index, obj, properties in plans:
        portal.write(obj, api_write(obj, properties))
        results.append(_result(obj, properties, traces[index] if traces else None))
    errors = []
    for index, failure in failures:
        assert traces is not None
        context = {**failure.context, "objectWriteTraceId": [traces[index]]}
        errors.append(
            {
                "status": "error",
                "category": failure.category,
                "message": failure.message,
                "context": context,
            }
        )
    return _batch_answer(results, errors, started, portal)


def batch_upsert(portal: Portal, payload: Any) -> Answer:
    """``POST /crm/v3/objects/contacts/batch/upsert`` by ``idProperty: "email"``."""
    inputs = _inputs(payload)
    for item in inputs:
        if item.get("idProperty") != "email":
            prop = item.get("idProperty") or "hs_object_id"
            message = f"Unable to perform update/upsert by non-unique 0-1 property {prop}"
            raise BadRequest(400, error_body("VALIDATION_ERROR", message))
    emails = [str(item.get("id", "")).strip().lower() for item in inputs]
    _duplicates(emails)
    email_def = portal.properties["contacts"]["email"]
    plans: list[tuple[str, CrmObject | None, dict[str, Any], Any]] = []
    for email, item in zip(emails, inputs, strict=True):
        properties = _properties(item)
        problems = _check(portal, properties)
        bad_id = check_value(email_def, "email", email) if email else None
        if not email:
            bad_id = InvalidValue("email", "INVALID_EMAIL", "Email address  is invalid")
        if bad_id is not None:
            problems.insert(0, bad_id)
        if problems:
            raise _whole_batch(_validation(problems, {}))
        existing = portal.contact_by_email(email)
        conflict = _email_conflict(portal, properties, existing)
        if conflict is not None:
            raise _whole_batch(conflict)
        plans.append((email, existing, properties, item.get("objectWriteTraceId")))
    started = portal.clock.now_ms()
    results = []
    for email, existing, properties, trace in plans:
        if existing is None:
            obj = portal.create("contacts", {**properties, "email": email})
        else:
            obj = existing
            portal.write(obj, api_write(obj, properties))
        result = _result(obj, {**properties, "email": email}, trace)
        result["new"] = existing is None
        results.append(result)
    return _batch_answer(results, [], started, portal)


def create_property(portal: Portal, payload: Any) -> Answer:
    """``POST /crm/v3/properties/contacts`` (``PropertyCreate``)."""
    if not isinstance(payload, dict):
        raise BadRequest(400, error_body("VALIDATION_ERROR", "Invalid input JSON"))
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not payload.get(k)]
    if missing:
        message = f"Missing required fields: {', '.join(missing)}"
        raise BadRequest(400, error_body("VALIDATION_ERROR", message))
    name, kind, field_type = payload["name"], payload["type"], payload["fieldType"]
    defs = portal.properties["contacts"]
    if name in defs:
        raise BadRequest(
            409, error_body("OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
        )
    if not PROPERTY_NAME.match(str(name)):
        message = f"Property name '{name}' must start with a letter and use a-z, 0-9 and _"
        raise BadRequest(400, error_body("VALIDATION_ERROR", message))
    if field_type not in FIELD_TYPES.get(kind, set()):
        message = f"fieldType {field_type!r} is not valid for a property of type {kind!r}"
        raise BadRequest(400, error_body("VALIDATION_ERROR", message))
    if payload["groupName"] not in portal.groups:
        message = f"Property group {payload['groupName']!r} does not exist"
        raise BadRequest(400, error_body("VALIDATION_ERROR", message))
    options = payload.get("options") or []
    if kind == "enumeration" and not options:
        raise BadRequest(400, error_body("VALIDATION_ERROR", "Enumerations need options"))
    definition = PropertyDef(
        name,
        payload["label"],
        kind,
        field_type,
        payload["groupName"],
        [dict(o) for o in options],
        hubspot_defined=False,
        description=str(payload.get("description") or ""),
        created_at=iso_ms(portal.clock.now_ms()),
    )
    defs[name] = definition
    return 201, definition.as_json()


def create_properties(portal: Portal, payload: Any) -> Answer:
    """``POST /crm/v3/properties/contacts/batch/create``: each input as a single create would be,
    refused inputs listed in ``errors[]`` of a 207 answer."""
    inputs = _inputs(payload)
    started = portal.clock.now_ms()
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for item in inputs:
        try:
            results.append(create_property(portal, item)[1])
        except BadRequest as exc:
            errors.append(
                {
                    "status": "error",
                    "category": exc.body["category"],
                    "message": exc.body["message"],
                    "context": {"name": [str(item.get("name"))]},
                }
            )
    status, body = _batch_answer(results, errors, started, portal)
    return (201 if status == 200 else status), body


def create_group(portal: Portal, payload: Any) -> Answer:
    """``POST /crm/v3/properties/contacts/groups`` (``PropertyGroupCreate``)."""
    if not isinstance(payload, dict) or not payload.get("name") or not payload.get("label"):
        raise BadRequest(400, error_body("VALIDATION_ERROR", "name and label are required"))
    name = str(payload["name"])
    if name in portal.groups:
        raise BadRequest(
            409, error_body("OBJECT_ALREADY_EXISTS", f"Property group '{name}' already exists.")
        )
    group = {
        "name": name,
        "label": str(payload["label"]),
        "displayOrder": int(payload.get("displayOrder", -1)),
        "archived": False,
    }
    portal.groups[name] = group
    return 201, group
