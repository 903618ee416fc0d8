"""Which contacts an activity belongs to: the v4 associations batch read.

Search results carry no associations, so the connector reads them for a whole buffer of
activity ids at once: ``POST /crm/v4/associations/{fromObjectType}/contacts/batch/read`` takes
up to 1,000 ids
(https://developers.hubspot.com/docs/api-reference/latest/crm/associations/associate-records/batch/get-associations).
An id whose associations do not fit one page comes back with ``paging.next.after``; it is read
again with that ``after``. Ids without any contact come back as errors with the sub-category
``crm.associations.NO_ASSOCIATIONS_FOUND`` in a 207 answer (observed behaviour; the reference
only shows the generic error shape), which simply means "no contacts".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from smarketing_sync import ContractError, Http

from .streams import ASSOCIATIONS_BATCH_LIMIT

log = structlog.get_logger("smarketing_sync.connectors.hubspot")

NO_ASSOCIATIONS = "crm.associations.NO_ASSOCIATIONS_FOUND"


def _chunks(items: Sequence[dict[str, str]], size: int) -> list[Sequence[dict[str, str]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def contacts_of(http: Http, object_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
    """Map each activity id to the ids of its associated contacts (possibly none)."""
    path = f"/crm/v4/associations/{object_type}/contacts/batch/read"
    found: dict[str, list[str]] = {activity_id: [] for activity_id in ids}
    pending = [{"id": activity_id} for activity_id in dict.fromkeys(ids)]
    while pending:
        follow_up: list[dict[str, str]] = []
        for chunk in _chunks(pending, ASSOCIATIONS_BATCH_LIMIT):
            response = await http.post(path, json={"inputs": list(chunk)})
            body = await http.json(response)
            if not isinstance(body, dict):
                raise ContractError(f"{http.connector}: {path} answered a non-object body")
            follow_up.extend(_read_results(body, found))
            _log_errors(http, object_type, body)
        pending = follow_up
    return found


def _read_results(body: dict[str, Any], found: dict[str, list[str]]) -> list[dict[str, str]]:
    follow_up: list[dict[str, str]] = []
    for result in body.get("results") or []:
        from_id = str((result.get("from") or {}).get("id"))
        contacts = found.setdefault(from_id, [])
        for target in result.get("to") or []:
            contact_id = str(target.get("toObjectId"))
            if contact_id not in contacts:
                contacts.append(contact_id)
        after = ((result.get("paging") or {}).get("next") or {}).get("after")
        if after:
            follow_up.append({"id": from_id, "after": str(after)})
    return follow_up


def _log_errors(http: Http, object_type: str, body: dict[str, Any]) -> None:
    for error in body.get("errors") or []:
        if error.get("subCategory") == NO_ASSOCIATIONS:
            continue
        # One unreadable activity must not stop the stream: it arrives without contacts and the
        # flow keeps it as an orphan until a later read attaches it.
        log.warning(
            "pull.associations_failed",
            connector=http.connector,
            object_type=object_type,
            category=error.get("category"),
            reason=str(error.get("message"))[:300],
        )
