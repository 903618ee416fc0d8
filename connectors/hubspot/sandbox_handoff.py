"""Sandbox endpoints for the CRM side of a hand-off: tasks, batch reads, owners.

- ``POST /crm/v3/objects/tasks`` and ``POST /crm/v3/objects/tasks/batch/create`` (at most 100
  inputs) with ``properties`` and ``associations`` (``SimplePublicObjectInputForCreate`` in the
  ``CRM/Tasks`` OpenAPI spec); the sandbox stores task-to-contact associations (type 204) only.
  Batch create follows the contact batch rules of ``sandbox_writes``: a 207 with per-input
  errors when every input has a distinct ``objectWriteTraceId``, otherwise one 400, nothing
  written.
- ``POST /crm/v3/objects/{contacts,tasks}/batch/read``: ids that are deleted or never existed
  come back in ``errors[]`` of a 207 answer (``OBJECT_NOT_FOUND`` with ``context.ids``).
- ``POST /crm/v4/associations/contacts/tasks/batch/read``: the tasks of each contact.
- ``GET /crm/v3/owners`` with ``limit`` (at most 500), ``after`` and ``email``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from .sandbox_handoff_schema import CONTACT_TO_TASK, TASK_STATUSES, TASK_TO_CONTACT, TASKS
from .sandbox_schema import LEAD_STATUSES, check_value, parse_datetime_ms
from .sandbox_store import CREATED, MODIFIED, CrmObject, Portal
from .sandbox_writes import (
    Answer,
    BadRequest,
    Failure,
    _batch_answer,
    _inputs,
    _traces,
    _validation,
    _whole_batch,
    error_body,
)

Handler = Callable[[Request, Any], Answer]
READABLE = ("contacts", TASKS)
OWNERS_MAX_LIMIT = 500
ASSOCIATIONS_BATCH_LIMIT = 1_000
ASSOCIATIONS_PAGE_SIZE = 500


def _plan_task(portal: Portal, item: Any) -> tuple[dict[str, Any], list[int]] | Failure:
    """A task create input checked as HubSpot would: its properties, then its associations."""
    properties = item.get("properties") if isinstance(item, dict) else None
    if not isinstance(properties, dict):
        raise BadRequest(400, error_body("VALIDATION_ERROR", "Invalid input JSON: properties"))
    defs = portal.properties[TASKS]
    problems = [
        p
        for p in (check_value(defs.get(name), name, value) for name, value in properties.items())
        if p is not None
    ]
    if problems:
        return _validation(problems, {})
    if not properties.get("hs_timestamp"):
        message = "hs_timestamp is required: the task's due date (epoch ms or ISO 8601 UTC)"
        return Failure("VALIDATION_ERROR", message, 400, [], {"propertyName": ["hs_timestamp"]})
    contacts = portal.tables["contacts"].objects
    contact_ids: list[int] = []
    for association in item.get("associations") or []:
        target = str(((association or {}).get("to") or {}).get("id", ""))
        types = (association or {}).get("types") or []
        if not any(
            t.get("associationCategory") == "HUBSPOT_DEFINED"
            and t.get("associationTypeId") == TASK_TO_CONTACT
            for t in types
            if isinstance(t, dict)
        ):
            message = (
                f"the sandbox associates tasks with contacts only (HUBSPOT_DEFINED type "
                f"{TASK_TO_CONTACT}); got {types!r}"
            )
            return Failure("VALIDATION_ERROR", message, 400, [], {})
        contact = contacts.get(int(target)) if target.isdigit() else None
        if contact is None or contact.archived:
            message = f"Invalid association: contact {target} does not exist."
            return Failure("VALIDATION_ERROR", message, 400, [], {"toObjectId": [target]})
        contact_ids.append(contact.id)
    return properties, contact_ids


def _written(portal: Portal, obj: CrmObject, properties: dict[str, Any]) -> dict[str, Any]:
    names = [*properties, "hs_object_id", CREATED[TASKS], MODIFIED[TASKS]]
    return obj.as_json(dict.fromkeys(names))


def create_task(portal: Portal, payload: Any) -> Answer:
    """``POST /crm/v3/objects/tasks``: 201 with the task, or the refusal as one error."""
    plan = _plan_task(portal, payload)
    if isinstance(plan, Failure):
        raise _whole_batch(plan)
    properties, contact_ids = plan
    obj = portal.create(TASKS, properties, contact_ids=contact_ids)
    return 201, _written(portal, obj, properties)


def batch_create_tasks(portal: Portal, payload: Any) -> Answer:
    """``POST /crm/v3/objects/tasks/batch/create``."""
    inputs = _inputs(payload)
    traces = _traces(inputs)
    plans: list[tuple[int, dict[str, Any], list[int]]] = []
    failures: list[tuple[int, Failure]] = []
    for index, item in enumerate(inputs):
        plan = _plan_task(portal, item)
        if isinstance(plan, Failure):
            failures.append((index, plan))
        else:
            plans.append((index, *plan))
    if failures and traces is None:
        raise _whole_batch(failures[0][1])
    started = portal.clock.now_ms()
    results = []
    for index, properties, contact_ids in plans:
        obj = portal.create(TASKS, properties, contact_ids=contact_ids)
        result = _written(portal, obj, properties)
        if traces is not None:
            result["objectWriteTraceId"] = traces[index]
        results.append(result)
    errors = []
    for index, failure in failures:
        assert traces is not None
        errors.append(
            {
                "status": "error",
                "category": failure.category,
                "message": failure.message,
                "context": {**failure.context, "objectWriteTraceId": [traces[index]]},
            }
        )
    status, body = _batch_answer(results, errors, started, portal)
    return (201 if status == 200 else status), body


def batch_read(portal: Portal, object_type: str, payload: Any) -> Answer:
    """``POST /crm/v3/objects/{objectType}/batch/read`` by record id."""
    if object_type not in READABLE:
        message = f"the sandbox batch-reads {' and '.join(READABLE)} only, not {object_type}"
        raise BadRequest(400, error_body("VALIDATION_ERROR", message))
    inputs = _inputs(payload)
    id_property = payload.get("idProperty")
    if id_property not in (None, "hs_object_id"):
        message = f"the sandbox reads by record id only, not by idProperty {id_property!r}"
        raise BadRequest(400, error_body("VALIDATION_ERROR", message))
    defs = portal.properties[object_type]
    requested = payload.get("properties") or []
    names = [n for n in requested if n in defs]
    names = list(
        dict.fromkeys([*names, "hs_object_id", CREATED[object_type], MODIFIED[object_type]])
    )
    table = portal.tables[object_type]
    started = portal.clock.now_ms()
    results: list[dict[str, Any]] = []
    missing: list[str] = []
    for object_id in dict.fromkeys(str(item.get("id", "")) for item in inputs):
        obj = table.objects.get(int(object_id)) if object_id.isdigit() else None
        if obj is None or obj.archived:
            missing.append(object_id)
        else:
            results.append(obj.as_json(names))
    errors = []
    if missing:
        kind = object_type[:-1].upper()
        errors.append(
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {kind} objects, they may be deleted or not "
                "exist. Check that ids are valid.",
                "context": {"ids": missing},
            }
        )
    return _batch_answer(results, errors, started, portal)


def tasks_of_contacts(portal: Portal, payload: Any) -> Answer:
    """``POST /crm/v4/associations/contacts/tasks/batch/read``."""
    inputs = _inputs(payload, limit=ASSOCIATIONS_BATCH_LIMIT)
    by_contact: dict[int, list[int]] = {}
    for task in portal.tables[TASKS].objects.values():
        if not task.archived:
            for owner_contact in task.contact_ids:
                by_contact.setdefault(owner_contact, []).append(task.id)
    started = portal.clock.now_ms()
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for item in inputs:
        contact_id = str(item.get("id", ""))
        tasks = sorted(by_contact.get(int(contact_id), [])) if contact_id.isdigit() else []
        if not tasks:
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "message": f"No task is associated with contact {contact_id}.",
                    "context": {
                        "fromObjectId": [contact_id],
                        "fromObjectType": ["contact"],
                        "toObjectType": ["task"],
                    },
                }
            )
            continue
        after = str(item.get("after") or "0")
        offset = int(after) if after.isdigit() else 0
        window = tasks[offset : offset + ASSOCIATIONS_PAGE_SIZE]
        result: dict[str, Any] = {
            "from": {"id": contact_id},
            "to": [
                {
                    "toObjectId": task_id,
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": CONTACT_TO_TASK, "label": None}
                    ],
                }
                for task_id in window
            ],
        }
        if offset + len(window) < len(tasks):
            result["paging"] = {"next": {"after": str(offset + len(window))}}
        results.append(result)
    return _batch_answer(results, errors, started, portal)


def list_owners(portal: Portal, request: Request) -> Answer:
    """``GET /crm/v3/owners``: pages of ``PublicOwner``, optionally filtered by email."""
    try:
        limit = int(request.query_params.get("limit", "100"))
    except ValueError:
        raise BadRequest(400, error_body("VALIDATION_ERROR", "limit must be a number")) from None
    limit = max(1, min(limit, OWNERS_MAX_LIMIT))
    after = request.query_params.get("after", "0")
    start = int(after) if after.isdigit() else 0
    email = request.query_params.get("email", "").strip().lower()
    owners = [o for o in portal.owners if not email or o.email == email]
    page = owners[start : start + limit]
    body: dict[str, Any] = {"results": [o.as_json() for o in page]}
    if start + limit < len(owners):
        body["paging"] = {"next": {"after": str(start + limit)}}
    return 200, body


def routes(portal: Portal) -> list[tuple[str, str, Handler]]:
    """(path, method, handler) of every endpoint above, for ``SandboxApi``."""

    def read(request: Request, payload: Any) -> Answer:
        return batch_read(portal, request.path_params["object_type"], payload)

    return [
        ("/crm/v3/objects/tasks", "POST", lambda _, payload: create_task(portal, payload)),
        (
            "/crm/v3/objects/tasks/batch/create",
            "POST",
            lambda _, payload: batch_create_tasks(portal, payload),
        ),
        ("/crm/v3/objects/{object_type}/batch/read", "POST", read),
        (
            "/crm/v4/associations/contacts/tasks/batch/read",
            "POST",
            lambda _, payload: tasks_of_contacts(portal, payload),
        ),
        ("/crm/v3/owners", "GET", lambda request, _: list_owners(portal, request)),
    ]


class HandoffViews:
    """Test and demo helpers on the sandbox: what sales did in HubSpot, seen from outside."""

    portal: Portal

    def tasks(self, contact_id: str | None = None) -> list[dict[str, Any]]:
        """Every live task (of one contact when ``contact_id`` is given), oldest first."""
        with self.portal.lock:
            return [
                _task_view(obj)
                for obj in sorted(self.portal.tables[TASKS].live(), key=lambda o: o.id)
                if contact_id is None or int(contact_id) in obj.contact_ids
            ]

    def complete_task(self, task_id: str) -> None:
        """The owner ticks the task off."""
        self._write(TASKS, task_id, {"hs_task_status": "COMPLETED"})

    def set_task_status(self, task_id: str, status: str) -> None:
        if status not in TASK_STATUSES:
            raise ValueError(f"task status {status!r} is not one of {', '.join(TASK_STATUSES)}")
        self._write(TASKS, task_id, {"hs_task_status": status})

    def set_lead_status(self, contact_id: str, status: str) -> None:
        """A sales rep sets the contact's lead status (e.g. CONNECTED, UNQUALIFIED)."""
        if status not in LEAD_STATUSES:
            raise ValueError(f"lead status {status!r} is not one of {', '.join(LEAD_STATUSES)}")
        self._write("contacts", contact_id, {"hs_lead_status": status})

    def delete_task(self, task_id: str) -> None:
        self._archive(TASKS, task_id)

    def delete_person(self, person_id: str) -> None:
        """Delete (archive) a contact, as a user does in HubSpot; its tasks stay."""
        self._archive("contacts", person_id)

    def owners(self) -> list[dict[str, Any]]:
        """The portal's owners as ``GET /crm/v3/owners`` lists them."""
        return [o.as_json() for o in self.portal.owners]

    def _live(self, object_type: str, object_id: str) -> CrmObject:
        obj = self.portal.tables[object_type].objects.get(int(object_id))
        if obj is None or obj.archived:
            raise KeyError(f"no {object_type[:-1]} {object_id}")
        return obj

    def _write(self, object_type: str, object_id: str, values: dict[str, Any]) -> None:
        with self.portal.lock:
            self.portal.write(self._live(object_type, object_id), values)

    def _archive(self, object_type: str, object_id: str) -> None:
        with self.portal.lock:
            obj = self._live(object_type, object_id)
            obj.archived = True
            self.portal.tables[object_type].touch(obj, self.portal.clock.now_ms())
            email = obj.properties.get("email")
            if email and self.portal.email_index.get(email) == obj.id:
                # The address is free again: an upsert with it creates a new contact.
                del self.portal.email_index[email]


def _task_view(obj: CrmObject) -> dict[str, Any]:
    props = obj.properties
    due = parse_datetime_ms(props.get("hs_timestamp") or "")
    return {
        "id": str(obj.id),
        "subject": props.get("hs_task_subject"),
        "body": props.get("hs_task_body"),
        "status": props.get("hs_task_status"),
        "type": props.get("hs_task_type"),
        "owner_id": props.get("hubspot_owner_id"),
        "due_at": _datetime(due) if due is not None else None,
        "contact_ids": [str(c) for c in obj.contact_ids],
        "updated_at": _datetime(obj.modified_ms),
    }


def _datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
