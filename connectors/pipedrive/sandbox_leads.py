"""Leads, lead labels and users of the Pipedrive sandbox: the v1 endpoints API v2 does not have.

Shapes follow the Leads and LeadLabels references
(https://developers.pipedrive.com/docs/api/v1/Leads, .../LeadLabels) and the ``Lead`` and
``LeadLabel`` schemas of Pipedrive's OpenAPI document (as generated in
``pipedrive/client-nodejs`` ``src/versions/v1/models/lead.ts``):

- lead and label ids are UUIDs; a lead links a person and/or an organization;
- ``GET /v1/leads`` lists leads that are not archived, ``GET /v1/leads/archived`` the archived
  ones, both oldest first, paged with ``start``/``limit`` (v1 offset paging);
- ``GET /v1/leads/{id}`` returns archived leads too; a deleted lead (also one converted to a
  deal: "If the conversion is successful, the lead is marked as deleted") answers 404;
- ``POST /v1/leads`` answers 201 and sets ``source_name``/``origin`` to ``API``;
- ``GET /v1/leadLabels`` returns every label, unpaged; new accounts have Hot, Warm and Cold.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from .sandbox_model import USERS
from .sandbox_params import int_param, json_body
from .sandbox_state import ApiError, validation_error

if TYPE_CHECKING:
    from .sandbox import PipedriveSandbox

#: Pipedrive's three default lead labels (LeadLabels reference: "hot, cold, and warm").
DEFAULT_LABELS = (("Hot", "red"), ("Warm", "yellow"), ("Cold", "blue"))
LABEL_COLORS = frozenset(
    {"blue", "brown", "dark-gray", "gray", "green", "orange", "pink", "purple", "red", "yellow"}
)
LEAD_BODY_KEYS = frozenset(
    {
        "title",
        "owner_id",
        "label_ids",
        "person_id",
        "organization_id",
        "value",
        "expected_close_date",
        "visible_to",
        "was_seen",
        "origin_id",
        "channel",
        "channel_id",
    }
)
V1_MAX_LIMIT = 500


def v1_time(epoch: int) -> str:
    """v1 lead timestamps: ISO 8601 UTC with milliseconds (``2020-10-14T11:30:36.551Z``)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(slots=True)
class LeadLabel:
    id: str
    name: str
    color: str
    add_time: int
    update_time: int

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "color": self.color,
            "add_time": v1_time(self.add_time),
            "update_time": v1_time(self.update_time),
        }


@dataclass(slots=True)
class Lead:
    id: str
    title: str
    add_time: int
    update_time: int
    owner_id: int = 1
    creator_id: int = 1
    person_id: int | None = None
    organization_id: int | None = None
    label_ids: list[str] = field(default_factory=list)
    origin_id: str | None = None
    channel: int | None = None
    channel_id: str | None = None
    value: dict[str, Any] | None = None
    expected_close_date: str | None = None
    visible_to: str = "3"
    is_archived: bool = False
    was_seen: bool = False
    is_deleted: bool = False

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "owner_id": self.owner_id,
            "creator_id": self.creator_id,
            "label_ids": list(self.label_ids),
            "person_id": self.person_id,
            "organization_id": self.organization_id,
            "source_name": "API",
            "origin": "API",
            "origin_id": self.origin_id,
            "channel": self.channel,
            "channel_id": self.channel_id,
            "source_deal_id": None,
            "is_archived": self.is_archived,
            "was_seen": self.was_seen,
            "value": dict(self.value) if self.value else None,
            "expected_close_date": self.expected_close_date,
            "next_activity_id": None,
            "add_time": v1_time(self.add_time),
            "update_time": v1_time(self.update_time),
            "visible_to": self.visible_to,
            "cc_email": f"sandbox+lead{self.id[:8]}@pipedrivemail.com",
        }


def new_id() -> str:
    return str(uuid.uuid4())


def seed_labels(sandbox: PipedriveSandbox) -> None:
    stamp = sandbox.now()
    for name, color in DEFAULT_LABELS:
        label = LeadLabel(new_id(), name, color, stamp, stamp)
        sandbox.lead_labels[label.id] = label


def _v1_page(request: Request) -> tuple[int, int]:
    start = int_param(request, "start") or 0
    limit = int_param(request, "limit")
    limit = 100 if limit is None else limit
    if start < 0 or not 1 <= limit <= V1_MAX_LIMIT:
        raise validation_error(f"limit: Parameter 'limit' must be between 1 and {V1_MAX_LIMIT}")
    return start, limit


def _check_owner(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in USERS:
        raise validation_error("owner_id: User not found")
    return value


class LeadHandlers:
    """The v1 lead, lead label and user endpoints; each answers ``(status, body)``."""

    def __init__(self, sandbox: PipedriveSandbox) -> None:
        self.sb = sandbox

    async def list_leads(self, request: Request) -> tuple[int, dict[str, Any]]:
        return self._list(request, archived=False)

    async def list_archived(self, request: Request) -> tuple[int, dict[str, Any]]:
        return self._list(request, archived=True)

    def _list(self, request: Request, *, archived: bool) -> tuple[int, dict[str, Any]]:
        start, limit = _v1_page(request)
        person, owner = int_param(request, "person_id"), int_param(request, "owner_id")
        org = int_param(request, "organization_id")
        with self.sb.lock:
            matches = [
                lead
                for lead in sorted(self.sb.leads_table.values(), key=lambda x: (x.add_time, x.id))
                if not lead.is_deleted
                and lead.is_archived == archived
                and (person is None or lead.person_id == person)
                and (owner is None or lead.owner_id == owner)
                and (org is None or lead.organization_id == org)
            ]
            data = [lead.to_api() for lead in matches[start : start + limit]]
        more = start + limit < len(matches)
        pagination: dict[str, Any] = {
            "start": start,
            "limit": limit,
            "more_items_in_collection": more,
        }
        if more:
            pagination["next_start"] = start + limit
        return 200, {"success": True, "data": data, "additional_data": {"pagination": pagination}}

    async def get_lead(self, request: Request) -> tuple[int, dict[str, Any]]:
        with self.sb.lock:
            lead = self.sb.leads_table.get(request.path_params["id"])
            if lead is None or lead.is_deleted:
                raise ApiError(404, "Lead not found")
            return 200, {"success": True, "data": lead.to_api()}

    async def create_lead(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise validation_error("body: Expected a JSON object")
        unknown = set(body) - LEAD_BODY_KEYS
        if unknown:
            raise validation_error(
                "; ".join(f"{k}: Parameter '{k}' is not allowed" for k in sorted(unknown))
            )
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise validation_error("title: Parameter 'title' is required")
        with self.sb.lock:
            person_id = self._linked_person(body)
            stamp = self.sb.write_time(0)
            lead = Lead(
                id=new_id(),
                title=title.strip(),
                add_time=stamp,
                update_time=stamp,
                owner_id=_check_owner(body.get("owner_id", 1)),
                person_id=person_id,
                organization_id=body.get("organization_id"),
                label_ids=self._label_ids(body.get("label_ids", [])),
                origin_id=self._optional_text(body, "origin_id"),
                channel_id=self._optional_text(body, "channel_id"),
                value=body.get("value"),
                expected_close_date=body.get("expected_close_date"),
                was_seen=bool(body.get("was_seen", False)),
            )
            self.sb.leads_table[lead.id] = lead
            return 201, {"success": True, "data": lead.to_api()}

    def _linked_person(self, body: dict[str, Any]) -> int | None:
        person_id, org_id = body.get("person_id"), body.get("organization_id")
        if person_id is None and org_id is None:
            raise validation_error(
                "person_id: A lead must be linked to a person or an organization or both"
            )
        if org_id is not None and org_id not in self.sb.orgs:
            raise validation_error("organization_id: Organization not found")
        if person_id is None:
            return None
        if isinstance(person_id, bool) or not isinstance(person_id, int):
            raise validation_error("person_id: Expected 'number' as value")
        if self.sb.persons.live(person_id) is None:
            # Wording and status for a deleted person are not confirmed from the reference.
            raise ApiError(404, f"Person with id {person_id} not found")
        return person_id

    def _label_ids(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise validation_error("label_ids: Expected an array of UUID strings")
        missing = [v for v in value if v not in self.sb.lead_labels]
        if missing:
            raise validation_error(f"label_ids: Lead label {missing[0]} not found")
        return list(value)

    @staticmethod
    def _optional_text(body: dict[str, Any], key: str) -> str | None:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise validation_error(f"{key}: Expected 'string' as value")
        return value

    async def list_labels(self, request: Request) -> tuple[int, dict[str, Any]]:
        with self.sb.lock:
            data = [label.to_api() for label in self.sb.lead_labels.values()]
        return 200, {"success": True, "data": data}

    async def list_users(self, request: Request) -> tuple[int, dict[str, Any]]:
        data = [
            {
                "id": user_id,
                "name": name,
                "email": email,
                "active_flag": True,
                "is_admin": 1 if user_id == 1 else 0,
                "timezone_name": "UTC",
            }
            for user_id, (name, email) in USERS.items()
        ]
        return 200, {"success": True, "data": data}


def add_label(sandbox: PipedriveSandbox, name: str, color: str = "green") -> LeadLabel:
    """A lead label created in the UI (``POST /v1/leadLabels`` needs a name and a color)."""
    if color not in LABEL_COLORS:
        raise ValueError(f"unknown label color {color!r}; expected one of {sorted(LABEL_COLORS)}")
    stamp = sandbox.now()
    label = LeadLabel(new_id(), name, color, stamp, stamp)
    sandbox.lead_labels[label.id] = label
    return label
