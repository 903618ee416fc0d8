"""The three pulled streams, their documented fields and what the connector adds to records.

Field lists are the v2 response examples of the reference: persons
(https://developers.pipedrive.com/docs/api/v1/Persons#getPersons), activities
(https://developers.pipedrive.com/docs/api/v1/Activities#getActivities) and deals
(https://developers.pipedrive.com/docs/api/v1/Deals#getDeals). Enrichment adds a few fields
a mapping needs and Pipedrive does not give directly (see ``README.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from smarketing_sync import Cursor, CursorToken, Endpoint

from .fields import FieldCatalog
from .v2 import MAX_LIMIT, NEXT_CURSOR

PAGINATE = CursorToken(limit=MAX_LIMIT, token_path=NEXT_CURSOR)
# update_time has second precision and updated_since is inclusive; ascending sort makes
# each page safe to checkpoint.
CURSOR = Cursor("update_time", sorted=True)

PERSON_FIELDS = frozenset(
    {
        "id",
        "name",
        "first_name",
        "last_name",
        "owner_id",
        "org_id",
        "add_time",
        "update_time",
        "emails",
        "emails.*",
        "phones",
        "phones.*",
        "is_deleted",
        "visible_to",
        "label_ids",
        "picture_id",
        "custom_fields",
        "custom_fields.*",
        # only with contact sync enabled (Persons reference)
        "notes",
        "ims",
        "ims.*",
        "birthday",
        "job_title",
        "postal_address",
        "postal_address.*",
        # only with include_fields=marketing_status (Campaigns product)
        "marketing_status",
        # added by the connector
        "primary_email",
        "primary_phone",
    }
)
ACTIVITY_FIELDS = frozenset(
    {
        "id",
        "subject",
        "type",
        "owner_id",
        "is_deleted",
        "add_time",
        "update_time",
        "deal_id",
        "lead_id",
        "person_id",
        "org_id",
        "project_id",
        "due_date",
        "due_time",
        "duration",
        "busy",
        "done",
        "marked_as_done_time",
        "location",
        "location.*",
        "participants",
        "participants.*",
        "attendees",
        "attendees.*",
        "conference_meeting_client",
        "conference_meeting_url",
        "conference_meeting_id",
        "public_description",
        "priority",
        "note",
        # added by the connector
        "person_ids",
        "occurred_at",
    }
)
DEAL_FIELDS = frozenset(
    {
        "id",
        "title",
        "creator_user_id",
        "owner_id",
        "value",
        "person_id",
        "org_id",
        "stage_id",
        "pipeline_id",
        "currency",
        "archive_time",
        "add_time",
        "update_time",
        "stage_change_time",
        "status",
        "is_archived",
        "is_deleted",
        "probability",
        "lost_reason",
        "visible_to",
        "close_time",
        "won_time",
        "lost_time",
        "local_won_date",
        "local_lost_date",
        "local_close_date",
        "expected_close_date",
        "label_ids",
        "label_ids.*",
        "origin",
        "origin_id",
        "channel",
        "channel_id",
        "acv",
        "arr",
        "mrr",
        "custom_fields",
        "custom_fields.*",
    }
)

STREAMS: Mapping[str, Endpoint] = {
    "persons": Endpoint(
        "/api/v2/persons",
        kind="contact",
        records="data",
        paginate=PAGINATE,
        cursor=CURSOR,
        since_param="updated_since",
        fields=PERSON_FIELDS,
    ),
    "activities": Endpoint(
        "/api/v2/activities",
        kind="activity",
        records="data",
        paginate=PAGINATE,
        cursor=CURSOR,
        since_param="updated_since",
        fields=ACTIVITY_FIELDS,
    ),
    "deals": Endpoint(
        "/api/v2/deals",
        kind="deal",
        records="data",
        paginate=PAGINATE,
        cursor=CURSOR,
        since_param="updated_since",
        fields=DEAL_FIELDS,
    ),
}


def primary_value(entries: Any) -> Any:
    """The value of the entry marked primary; the first entry when none is marked."""
    if not isinstance(entries, list) or not entries:
        return None
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("primary"):
            return entry.get("value")
    first = entries[0]
    return first.get("value") if isinstance(first, Mapping) else None


def enrich_person(record: Mapping[str, Any], catalog: FieldCatalog) -> dict[str, Any]:
    """Adds ``primary_email``/``primary_phone``; ``custom_fields`` keyed by field name."""
    enriched = dict(record)
    enriched["primary_email"] = primary_value(record.get("emails"))
    enriched["primary_phone"] = primary_value(record.get("phones"))
    enriched["custom_fields"] = catalog.by_name_view(record.get("custom_fields"))
    return enriched


def enrich_deal(record: Mapping[str, Any], catalog: FieldCatalog) -> dict[str, Any]:
    enriched = dict(record)
    enriched["custom_fields"] = catalog.by_name_view(record.get("custom_fields"))
    return enriched


def enrich_activity(record: Mapping[str, Any]) -> dict[str, Any]:
    """Adds ``person_ids`` (primary participant first) and ``occurred_at``.

    ``occurred_at`` is ``due_date`` + ``due_time`` read as UTC (Pipedrive's v1 model documents
    due_time "in UTC"; the v2 reference says only "the due time"), midnight UTC when the
    activity has a date but no time, and ``add_time`` when it has no due date at all.
    """
    enriched = dict(record)
    ids: list[int] = []
    if isinstance(record.get("person_id"), int):
        ids.append(record["person_id"])
    participants = record.get("participants")
    if isinstance(participants, list):
        ordered = sorted(
            (p for p in participants if isinstance(p, Mapping)),
            key=lambda p: not p.get("primary"),
        )
        for participant in ordered:
            pid = participant.get("person_id")
            if isinstance(pid, int) and pid not in ids:
                ids.append(pid)
    enriched["person_ids"] = ids
    enriched["occurred_at"] = _occurred_at(record)
    return enriched


def _occurred_at(record: Mapping[str, Any]) -> Any:
    due_date = record.get("due_date")
    if not due_date:
        return record.get("add_time")
    due_time = record.get("due_time") or "00:00:00"
    if len(due_time) == 5:  # HH:MM, as v1 wrote it
        due_time += ":00"
    try:
        moment = datetime.fromisoformat(f"{due_date}T{due_time}").replace(tzinfo=UTC)
    except ValueError:
        return record.get("add_time")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
