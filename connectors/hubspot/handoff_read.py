"""Reading a hand-off back: its task and its contact, two batch reads per 100 hand-offs.

``POST /crm/v3/objects/{tasks,contacts}/batch/read`` takes up to 100 ids and the property names
to return (``BatchReadInputSimplePublicObjectId`` in the ``CRM/Tasks`` and ``CRM/Contacts``
OpenAPI specs). Ids that are deleted (archived) or never existed are missing from ``results``
and listed in ``errors[]`` of a 207 answer; missing is all this module relies on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from smarketing_sync import ContractError, HandoffFacts, HandoffRef, Http, RecordError

from .search import parse_timestamp_ms
from .streams import BATCH_LIMIT

TASK_PROPERTIES = ("hs_task_status", "hubspot_owner_id", "hs_timestamp", "hs_lastmodifieddate")
CONTACT_PROPERTIES = ("hubspot_owner_id", "lifecyclestage", "hs_lead_status", "lastmodifieddate")
DONE_STATUS = "COMPLETED"

Record = dict[str, Any]


async def batch_read(
    http: Http, object_type: str, ids: Iterable[str], properties: Sequence[str]
) -> dict[str, Record]:
    """Live records by id; ids that are deleted, merged away or never existed are absent."""
    path = f"/crm/v3/objects/{object_type}/batch/read"
    unique = list(dict.fromkeys(i for i in ids if i.isdigit()))
    found: dict[str, Record] = {}
    for start in range(0, len(unique), BATCH_LIMIT):
        chunk = unique[start : start + BATCH_LIMIT]
        request = {
            "inputs": [{"id": object_id} for object_id in chunk],
            "properties": list(properties),
            "propertiesWithHistory": [],
        }
        try:
            body = await http.json(await http.post(path, json=request))
        except RecordError as exc:
            if exc.status == 404:  # defensively: "none of these exist" as a plain 404
                continue
            raise
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise ContractError(f"{http.connector}: {path} answered without a results list")
        wanted = set(chunk)
        for record in results:
            if isinstance(record, dict) and str(record.get("id")) in wanted:
                found[str(record["id"])] = record
    return found


def _properties(record: Record) -> dict[str, Any]:
    properties = record.get("properties")
    return properties if isinstance(properties, dict) else {}


def _modified(record: Record, prop: str) -> datetime | None:
    ms = parse_timestamp_ms(_properties(record).get(prop)) or parse_timestamp_ms(
        record.get("updatedAt")
    )
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


async def read_handoffs(http: Http, refs: Sequence[HandoffRef]) -> list[HandoffFacts]:
    """Flat facts per ref: ``task.*``, ``contact.*`` and ``owner``; found=False when gone."""
    tasks = await batch_read(http, "tasks", (r.task_id for r in refs if r.task_id), TASK_PROPERTIES)
    contacts = await batch_read(
        http, "contacts", (r.person_id for r in refs if r.person_id), CONTACT_PROPERTIES
    )
    return [_facts(ref, tasks, contacts) for ref in refs]


def _facts(ref: HandoffRef, tasks: dict[str, Record], contacts: dict[str, Record]) -> HandoffFacts:
    facts: dict[str, Any] = {}
    found = bool(ref.task_id or ref.person_id)
    times: list[datetime] = []
    task_owner: str | None = None
    if ref.task_id:
        task = tasks.get(ref.task_id)
        facts["task.deleted"] = task is None
        if task is None:
            found = False
        else:
            props = _properties(task)
            status = _text(props.get("hs_task_status"))
            task_owner = _text(props.get("hubspot_owner_id"))
            facts.update(
                {
                    "task.status": status,
                    "task.done": status == DONE_STATUS,
                    "task.owner": task_owner,
                }
            )
            times.extend(t for t in [_modified(task, "hs_lastmodifieddate")] if t is not None)
    contact_owner: str | None = None
    if ref.person_id:
        contact = contacts.get(ref.person_id)
        facts["contact.deleted"] = contact is None
        if contact is None:
            found = False
        else:
            props = _properties(contact)
            contact_owner = _text(props.get("hubspot_owner_id"))
            facts.update(
                {
                    "contact.lead_status": _text(props.get("hs_lead_status")),
                    "contact.lifecycle": _text(props.get("lifecyclestage")),
                    "contact.owner": contact_owner,
                }
            )
            times.extend(t for t in [_modified(contact, "lastmodifieddate")] if t is not None)
    # The contact's owner is who sales says owns the person; the task's is the fallback.
    facts["owner"] = contact_owner or task_owner
    return HandoffFacts(ref.key, found, facts, max(times) if times else None)
