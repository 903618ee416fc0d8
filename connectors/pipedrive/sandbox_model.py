"""Persons, activities and deals of the Pipedrive sandbox, rendered in the API v2 shapes.

Shapes follow the v2 reference response examples: persons and deals
(https://developers.pipedrive.com/docs/api/v1/Persons, .../Deals) and activities
(https://developers.pipedrive.com/docs/api/v1/Activities), including ``custom_fields`` keyed
by 40-hex-char codes and second-precision RFC 3339 timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .sandbox_state import Record, rfc3339

USER_IDS = (1, 2)  # "Sandbox Admin" (the token's user) and a second seller: own seeded persons
#: Every user of the account (GET /api/v1/users): id -> (name, email). User 3 owns nothing seeded,
#: so hand-offs routed to them are easy to tell apart in tests.
USERS = {
    1: ("Sandbox Admin", "admin@sandbox.example"),
    2: ("Sam Seller", "sam.seller@sandbox.example"),
    3: ("Riley Rep", "riley.rep@sandbox.example"),
}


def primary(entries: list[dict[str, Any]]) -> str | None:
    """The value of the entry marked primary (the first one when none is marked)."""
    for entry in entries:
        if entry.get("primary"):
            return str(entry.get("value"))
    return str(entries[0].get("value")) if entries else None


@dataclass(slots=True)
class Person(Record):
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    owner_id: int = 1
    org_id: int | None = None
    emails: list[dict[str, Any]] = field(default_factory=list)
    phones: list[dict[str, Any]] = field(default_factory=list)
    visible_to: int = 3
    label_ids: list[int] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)
    # The postal address lives on the person, but v2 only returns postal_address (with job_title,
    # notes, birthday and ims) when the company has contact sync enabled; the sandbox models an
    # account without it, so these two are only visible through the tool-neutral view.
    city: str | None = None
    country: str | None = None

    def to_api(self, custom_codes: list[str], only: set[str] | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "owner_id": self.owner_id,
            "org_id": self.org_id,
            "add_time": rfc3339(self.add_time),
            "update_time": rfc3339(self.update_time),
            "emails": [dict(e) for e in self.emails],
            "phones": [dict(p) for p in self.phones],
            "is_deleted": self.is_deleted,
            "visible_to": self.visible_to,
            "label_ids": list(self.label_ids),
            "picture_id": None,
            "custom_fields": _custom(self.custom, custom_codes, only),
        }


@dataclass(slots=True)
class Activity(Record):
    subject: str = ""
    type: str = "task"
    owner_id: int = 1
    person_id: int | None = None
    participants: list[dict[str, Any]] = field(default_factory=list)
    deal_id: int | None = None
    lead_id: str | None = None
    org_id: int | None = None
    due_date: str | None = None
    due_time: str | None = None
    duration: str | None = None
    busy: bool = False
    done: bool = False
    marked_as_done_time: int | None = None
    note: str | None = None
    public_description: str | None = None

    def to_api(self, *, attendees: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "subject": self.subject,
            "type": self.type,
            "owner_id": self.owner_id,
            "is_deleted": self.is_deleted,
            "add_time": rfc3339(self.add_time),
            "update_time": rfc3339(self.update_time),
            "deal_id": self.deal_id,
            "lead_id": self.lead_id,
            "person_id": self.person_id,
            "org_id": self.org_id,
            "project_id": None,
            "due_date": self.due_date,
            "due_time": self.due_time,
            "duration": self.duration,
            "busy": self.busy,
            "done": self.done,
            "marked_as_done_time": (
                rfc3339(self.marked_as_done_time) if self.marked_as_done_time else None
            ),
            "location": None,
            "participants": [dict(p) for p in self.participants],
            "conference_meeting_client": None,
            "conference_meeting_url": None,
            "conference_meeting_id": None,
            "public_description": self.public_description,
            "priority": None,
            "note": self.note,
        }
        if attendees:
            body["attendees"] = []
        return body


@dataclass(slots=True)
class Deal(Record):
    title: str = ""
    creator_user_id: int = 1
    owner_id: int = 1
    value: float = 0.0
    person_id: int | None = None
    org_id: int | None = None
    stage_id: int = 1
    pipeline_id: int = 1
    currency: str = "EUR"
    stage_change_time: int | None = None
    status: str = "open"
    lost_reason: str | None = None
    visible_to: int = 3
    close_time: int | None = None
    won_time: int | None = None
    lost_time: int | None = None
    expected_close_date: str | None = None
    origin: str = "ManuallyCreated"
    source_lead_id: str | None = None  # the lead this deal was converted from
    custom: dict[str, Any] = field(default_factory=dict)

    def to_api(
        self,
        custom_codes: list[str],
        only: set[str] | None = None,
        include: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        def stamp(value: int | None) -> str | None:
            return rfc3339(value) if value is not None else None

        def local_date(value: int | None) -> str | None:
            return rfc3339(value)[:10] if value is not None else None

        body = {
            "id": self.id,
            "title": self.title,
            "creator_user_id": self.creator_user_id,
            "owner_id": self.owner_id,
            "value": self.value,
            "person_id": self.person_id,
            "org_id": self.org_id,
            "stage_id": self.stage_id,
            "pipeline_id": self.pipeline_id,
            "currency": self.currency,
            "archive_time": None,
            "add_time": rfc3339(self.add_time),
            "update_time": rfc3339(self.update_time),
            "stage_change_time": stamp(self.stage_change_time),
            "status": self.status,
            "is_archived": False,
            "is_deleted": self.is_deleted,
            "probability": None,
            "lost_reason": self.lost_reason,
            "visible_to": self.visible_to,
            "close_time": stamp(self.close_time),
            "won_time": stamp(self.won_time),
            "lost_time": stamp(self.lost_time),
            "local_won_date": local_date(self.won_time),
            "local_lost_date": local_date(self.lost_time),
            "local_close_date": local_date(self.close_time),
            "expected_close_date": self.expected_close_date,
            "label_ids": [],
            "origin": self.origin,
            "origin_id": None,
            "channel": None,
            "channel_id": None,
            "acv": None,
            "arr": None,
            "mrr": None,
            "custom_fields": _custom(self.custom, custom_codes, only),
        }
        # "Only included when requested via include_fields parameter" (v2 Deal schema).
        if "source_lead_id" in include:
            body["source_lead_id"] = self.source_lead_id
        return body


def _custom(values: dict[str, Any], codes: list[str], only: set[str] | None) -> dict[str, Any]:
    # Every defined custom field is present, null when empty; ``custom_fields=`` narrows it.
    return {code: values.get(code) for code in codes if only is None or code in only}
