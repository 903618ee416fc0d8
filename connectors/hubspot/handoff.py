"""The CRM side of a hand-off in HubSpot: a follow-up task on the contact, due at the SLA time.

Owner and lifecycle stage of the contact are written by the normal contact push (mapping);
this module creates the task (tasks guide,
https://developers.hubspot.com/docs/api-reference/latest/crm/activities/tasks/guide):
``POST /crm/v3/objects/tasks`` for one, ``POST /crm/v3/objects/tasks/batch/create`` for several
(at most 100 per call), each with ``hs_timestamp`` (the due date), subject, body, status
``NOT_STARTED``, type, ``hubspot_owner_id`` and an association to the contact
(``HUBSPOT_DEFINED`` type 204, task to contact).

Never two tasks for one key. A create is not idempotent, so it is sent with
``idempotent=False``: after a timeout, a 5xx or a cut-off answer the task may exist, and the
request is answered retryable instead of being re-sent blindly. The next attempt
(``attempt > 1``) first lists the contact's tasks through the v4 associations batch read
(``POST /crm/v4/associations/contacts/tasks/batch/read``), reads their bodies by id and looks for
the line ``smarketing-sync hand-off key: <key>`` that every task we create carries. That lookup
is exact (the key is compared whole) and reads by id, so it does not wait for the search index
("it may take a few moments for newly created objects to appear in search results").
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from smarketing_sync import (
    ContractError,
    HandoffCreated,
    HandoffRequest,
    Http,
    RecordError,
    TransientError,
)

from .associations import NO_ASSOCIATIONS
from .handoff_read import batch_read, read_handoffs
from .streams import ASSOCIATIONS_BATCH_LIMIT, BATCH_LIMIT

__all__ = ["KEY_MARKER", "create_handoffs", "read_handoffs"]

TASKS_PATH = "/crm/v3/objects/tasks"
TASKS_BATCH_CREATE_PATH = "/crm/v3/objects/tasks/batch/create"
CONTACT_TASKS_PATH = "/crm/v4/associations/contacts/tasks/batch/read"
TASK_TO_CONTACT = 204
KEY_MARKER = "smarketing-sync hand-off key: "
TASK_TYPES = {"call": "CALL", "email": "EMAIL"}  # anything else is a TODO
#: Per-input error categories that say "later", not "never" (as in push.py).
_TRANSIENT_CATEGORIES = frozenset({"RATE_LIMITS", "LOCKED"})
_KEY_ENDS = frozenset(" \t\r\n<")


def _iso(moment: datetime) -> str:
    utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def task_body(request: HandoffRequest) -> str:
    """The task's notes: the hand-off note, then the key line the lookup finds it by."""
    return "\n\n".join(part for part in (request.task_note, KEY_MARKER + request.key) if part)


def carries_key(body: str, key: str) -> bool:
    """Whether a task body holds exactly this key (not merely a key that starts with it)."""
    marker = KEY_MARKER + key
    for text in {body, html.unescape(body)}:
        start = text.find(marker)
        while start != -1:
            end = start + len(marker)
            if end == len(text) or text[end] in _KEY_ENDS:
                return True
            start = text.find(marker, start + 1)
    return False


def task_input(request: HandoffRequest, *, trace: bool = False) -> dict[str, Any]:
    """The create input of one task (``SimplePublicObjectInputForCreate``)."""
    properties = {
        "hs_timestamp": _iso(request.due_at),
        "hs_task_subject": request.task_subject or request.title or "Follow up: new MQL",
        "hs_task_body": task_body(request),
        "hs_task_status": "NOT_STARTED",
        "hs_task_type": TASK_TYPES.get(request.task_type.strip().lower(), "TODO"),
    }
    if request.owner_id:
        properties["hubspot_owner_id"] = request.owner_id
    payload: dict[str, Any] = {
        "properties": properties,
        "associations": [
            {
                "to": {"id": request.person_id},
                "types": [
                    {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_CONTACT}
                ],
            }
        ],
    }
    if trace:
        payload["objectWriteTraceId"] = request.key
    return payload


def _refusal(request: HandoffRequest) -> str | None:
    if request.object != "task":
        return (
            f"HubSpot creates a follow-up task for a hand-off, not a {request.object!r}: "
            'configure handoff.object = "task" when handoff.crm is HubSpot'
        )
    if not request.person_id.isdigit():
        return f"{request.person_id!r} is not a HubSpot contact id (expected the numeric record id)"
    if request.owner_id and not request.owner_id.isdigit():
        return (
            f"owner {request.owner_id!r} is not a HubSpot owner id (expected the numeric id "
            "that GET /crm/v3/owners lists; check handoff.owners[].id)"
        )
    return None


def _failed(request: HandoffRequest, error: str, *, retryable: bool = False) -> HandoffCreated:
    return HandoffCreated(request.key, False, error=error, retryable=retryable)


async def create_handoffs(http: Http, requests: Sequence[HandoffRequest]) -> list[HandoffCreated]:
    """One answer per request (requests repeating a key share the first one's answer)."""
    answers: dict[str, HandoffCreated] = {}
    pending: dict[str, HandoffRequest] = {}
    for request in requests:
        if request.key in answers or request.key in pending:
            continue
        refusal = _refusal(request)
        if refusal is not None:
            answers[request.key] = _failed(request, refusal)
        else:
            pending[request.key] = request
    if pending:
        try:
            answers.update(await _create_missing(http, list(pending.values())))
        except TransientError as exc:
            answers.update(
                {key: _failed(r, f"HubSpot: {exc}", retryable=True) for key, r in pending.items()}
            )
        except RecordError as exc:
            answers.update({key: _failed(r, f"HubSpot: {exc}") for key, r in pending.items()})
    return [answers[request.key] for request in requests]


async def _create_missing(http: Http, requests: list[HandoffRequest]) -> dict[str, HandoffCreated]:
    answers: dict[str, HandoffCreated] = {}
    contacts = await batch_read(http, "contacts", (r.person_id for r in requests), ())
    ready: list[HandoffRequest] = []
    for request in requests:
        if request.person_id in contacts:
            ready.append(request)
        else:
            answers[request.key] = _failed(
                request,
                f"HubSpot has no contact {request.person_id} (deleted, merged into another "
                "contact, or never created): the hand-off needs the person in HubSpot first",
            )
    retried = [r for r in ready if r.attempt > 1]
    if retried:
        existing = await find_tasks(http, retried)
        for request in retried:
            if request.key in existing:
                answers[request.key] = HandoffCreated(
                    request.key, True, task_id=existing[request.key]
                )
    todo = [r for r in ready if r.key not in answers]
    for start in range(0, len(todo), BATCH_LIMIT):
        answers.update(await _send(http, todo[start : start + BATCH_LIMIT]))
    return answers


async def find_tasks(http: Http, requests: Sequence[HandoffRequest]) -> dict[str, str]:
    """Key -> id of a task an earlier attempt created for it (the oldest if several)."""
    task_ids = await _tasks_of(http, [r.person_id for r in requests])
    ids = sorted({t for ts in task_ids.values() for t in ts}, key=int)
    tasks = await batch_read(http, "tasks", ids, ("hs_task_body",))
    found: dict[str, str] = {}
    for request in requests:
        for task_id in task_ids.get(request.person_id, []):
            task = tasks.get(task_id)
            body = str(((task or {}).get("properties") or {}).get("hs_task_body") or "")
            if task is not None and carries_key(body, request.key):
                found[request.key] = task_id
                break
    return found


async def _tasks_of(http: Http, contact_ids: Sequence[str]) -> dict[str, list[str]]:
    """Contact id -> the ids of its tasks, ascending, through the v4 associations batch read."""
    found: dict[str, set[str]] = {contact_id: set() for contact_id in contact_ids}
    pending: list[dict[str, str]] = [{"id": c} for c in dict.fromkeys(contact_ids)]
    while pending:
        follow_up: list[dict[str, str]] = []
        for start in range(0, len(pending), ASSOCIATIONS_BATCH_LIMIT):
            chunk = pending[start : start + ASSOCIATIONS_BATCH_LIMIT]
            body = await http.json(await http.post(CONTACT_TASKS_PATH, json={"inputs": chunk}))
            if not isinstance(body, dict):
                raise ContractError(f"{http.connector}: {CONTACT_TASKS_PATH} answered no object")
            for result in body.get("results") or []:
                contact = str((result.get("from") or {}).get("id"))
                found.setdefault(contact, set()).update(
                    str(t.get("toObjectId")) for t in result.get("to") or []
                )
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    follow_up.append({"id": contact, "after": str(after)})
            unreadable = [
                e for e in body.get("errors") or [] if e.get("subCategory") != NO_ASSOCIATIONS
            ]
            if unreadable:
                # Creating without knowing the contact's tasks could duplicate one: try later.
                reason = "; ".join(str(e.get("message")) for e in unreadable)[:300]
                raise TransientError(
                    f"{http.connector}: could not list the tasks of a contact: {reason}",
                    reason="lookup_incomplete",
                )
        pending = follow_up
    return {contact: sorted(ids, key=int) for contact, ids in found.items()}


async def _send(http: Http, chunk: Sequence[HandoffRequest]) -> dict[str, HandoffCreated]:
    try:
        if len(chunk) == 1:
            response = await http.post(TASKS_PATH, json=task_input(chunk[0]), idempotent=False)
            return _read_single(chunk[0], await http.json(response))
        inputs = [task_input(r, trace=True) for r in chunk]
        response = await http.post(
            TASKS_BATCH_CREATE_PATH, json={"inputs": inputs}, idempotent=False
        )
        return _read_batch(chunk, await http.json(response))
    except TransientError as exc:
        # Timeout, 5xx, a cut-off answer or a 429 storm: the tasks may exist. The next attempt
        # (attempt > 1) looks them up by key before creating anything.
        return {
            r.key: _failed(r, f"HubSpot did not confirm the task: {exc}", retryable=True)
            for r in chunk
        }
    except RecordError as exc:
        if len(chunk) > 1:
            # One refused input refused the whole batch and nothing was written: find it.
            middle = len(chunk) // 2
            return {**await _send(http, chunk[:middle]), **await _send(http, chunk[middle:])}
        return {chunk[0].key: _failed(chunk[0], f"HubSpot refused the task: {exc}")}


def _read_single(request: HandoffRequest, body: Any) -> dict[str, HandoffCreated]:
    task_id = body.get("id") if isinstance(body, dict) else None
    if task_id is None:
        return {request.key: _failed(request, "HubSpot answered without a task id", retryable=True)}
    return {request.key: HandoffCreated(request.key, True, task_id=str(task_id))}


def _read_batch(chunk: Sequence[HandoffRequest], body: Any) -> dict[str, HandoffCreated]:
    by_key = {r.key: r for r in chunk}
    answers: dict[str, HandoffCreated] = {}
    data = body if isinstance(body, dict) else {}
    for result in data.get("results") or []:
        key = result.get("objectWriteTraceId")
        if key not in by_key:
            text = str((result.get("properties") or {}).get("hs_task_body") or "")
            key = next((k for k in by_key if carries_key(text, k)), None)
        if key is not None and key not in answers and result.get("id") is not None:
            answers[key] = HandoffCreated(key, True, task_id=str(result["id"]))
    for error in data.get("errors") or []:
        traces = (error.get("context") or {}).get("objectWriteTraceId") or []
        key = str(traces[0]) if traces else None
        if key in by_key and key not in answers:
            category = str(error.get("category") or "ERROR")
            reason = f"HubSpot refused the task: {category}: {error.get('message')}"
            answers[key] = _failed(by_key[key], reason, retryable=category in _TRANSIENT_CATEGORIES)
    for key, request in by_key.items():
        if key not in answers:
            # Neither a result nor an error: the task may exist; the retry looks it up first.
            answers[key] = _failed(
                request, "HubSpot answered without a result for this task", retryable=True
            )
    return answers
