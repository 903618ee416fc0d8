"""What the HubSpot connector reads: objects, their cursor properties and the properties we ask for.

Property names follow HubSpot's CRM reference:
contacts https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/guide and
the activity guides https://developers.hubspot.com/docs/api-reference/latest/crm/activities/meetings/guide
(calls, notes and emails have sibling pages). Contacts keep their last-modified date in
``lastmodifieddate``; every other object uses ``hs_lastmodifieddate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smarketing_sync import Cursor, CursorToken, Endpoint

#: Search pages hold at most 200 records (search guide, "Limits").
SEARCH_PAGE_SIZE = 200
#: A search query never returns more than 10,000 results; paging past that is a 400.
SEARCH_RESULT_CAP = 10_000
#: Object batch endpoints take at most 100 inputs (CRM objects guide, "Limits").
BATCH_LIMIT = 100
#: Associations batch read takes at most 1,000 ids (developer changelog, 2025-02-10:
#: https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api).
ASSOCIATIONS_BATCH_LIMIT = 1_000

#: Our own properties, written by push and created by ensure_fields.
CUSTOM_PROPERTIES: tuple[str, ...] = (
    "smarketing_score",
    "smarketing_score_band",
    "smarketing_score_reason",
    "smarketing_stage",
    "smarketing_handoff_status",
    "smarketing_handoff_reason",
)

CONTACT_PROPERTIES: tuple[str, ...] = (
    "email",
    "firstname",
    "lastname",
    "company",
    "jobtitle",
    "phone",
    "country",
    "city",
    "website",
    "industry",
    "state",
    "zip",
    "mobilephone",
    "hs_analytics_source",  # Original source: marketing- vs sales-generated (docs/kpis.md)
    # Its drill-down, the first tracked visit and the first and latest form conversions:
    # the marketing touches of flow/touches.py (HubSpot's default contact properties).
    "hs_analytics_source_data_1",
    "hs_analytics_first_timestamp",
    "first_conversion_date",
    "first_conversion_event_name",
    "recent_conversion_date",
    "recent_conversion_event_name",
    "lifecyclestage",
    "hs_lead_status",
    "hubspot_owner_id",
    "hs_email_optout",
    "createdate",
    "lastmodifieddate",
    *CUSTOM_PROPERTIES,
)


@dataclass(frozen=True, slots=True)
class SearchObject:
    """One searchable HubSpot object type and what we request from it."""

    object_type: str  # path segment: contacts, meetings, calls, notes, emails
    kind: Literal["contact", "activity"]
    cursor_property: str  # the last-modified property, sorted and filtered on
    properties: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"/crm/v3/objects/{self.object_type}/search"


def _activity(object_type: str, *specific: str) -> SearchObject:
    common = ("hs_timestamp", "hubspot_owner_id", "hs_createdate", "hs_lastmodifieddate")
    return SearchObject(object_type, "activity", "hs_lastmodifieddate", (*common, *specific))


OBJECTS: dict[str, SearchObject] = {
    "contacts": SearchObject("contacts", "contact", "lastmodifieddate", CONTACT_PROPERTIES),
    "meetings": _activity(
        "meetings",
        "hs_meeting_title",
        "hs_meeting_body",
        "hs_meeting_start_time",
        "hs_meeting_end_time",
        "hs_meeting_outcome",
    ),
    "calls": _activity(
        "calls",
        "hs_call_title",
        "hs_call_body",
        "hs_call_direction",
        "hs_call_duration",
        "hs_call_status",
    ),
    "notes": _activity("notes", "hs_note_body"),
    "emails": _activity(
        "emails",
        "hs_email_subject",
        "hs_email_text",
        "hs_email_direction",
        "hs_email_status",
    ),
}

#: Every record carries these top-level keys (``SimplePublicObject`` in the OpenAPI spec).
_RECORD_KEYS = ("id", "createdAt", "updatedAt", "archived")


def _fields(spec: SearchObject) -> frozenset[str]:
    # Exactly the properties we request (our smarketing_* ones included, one by one): a
    # ``properties.*`` wildcard would let every typo through the offline check.
    names = {f"properties.{name}" for name in spec.properties}
    names.update(_RECORD_KEYS)
    names.add("properties.hs_object_id")
    if spec.kind == "activity":
        # Added by the connector: the ids of the contacts the activity is associated with.
        names.add("associations.contacts")
    return frozenset(names)


def _endpoint(spec: SearchObject) -> Endpoint:
    return Endpoint(
        spec.path,
        kind=spec.kind,
        records="results",
        method="POST",
        # What the API offers (``paging.next.after``). HubSpot.pull does not follow it: every
        # page is a new query from the last cursor value (see search.py for why).
        paginate=CursorToken(
            limit=SEARCH_PAGE_SIZE,
            token_path="paging.next.after",  # noqa: S106 - a response path, not a secret
            limit_param="limit",
            token_param="after",  # noqa: S106 - a parameter name, not a secret
        ),
        cursor=Cursor(f"properties.{spec.cursor_property}", sorted=True),
        fields=_fields(spec),
    )


STREAMS: dict[str, Endpoint] = {name: _endpoint(spec) for name, spec in OBJECTS.items()}
