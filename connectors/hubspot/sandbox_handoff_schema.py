"""What the sandbox portal knows about tasks, owners and the lifecycle stage's direction.

Task properties follow the tasks guide
(https://developers.hubspot.com/docs/api-reference/latest/crm/activities/tasks/guide):
``hs_timestamp`` (required, the due date), ``hs_task_subject``, ``hs_task_body``,
``hs_task_status``, ``hs_task_priority``, ``hs_task_type`` and ``hubspot_owner_id``. Owners follow
the owners API (``PublicOwner`` in HubSpot's ``CRM/Crm Owners`` OpenAPI spec). A task is
associated with a contact through the HubSpot-defined type 204 (task to contact); the reverse
direction, contact to task, is 203 (associations v4 guide, "Association type ID values").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .sandbox_schema import LIFECYCLE_STAGES, PropertyDef, iso_ms

TASKS = "tasks"
TASK_TO_CONTACT = 204
CONTACT_TO_TASK = 203
#: The guide names NOT_STARTED and COMPLETED; its own example writes WAITING, and HubSpot's
#: task status property also offers IN_PROGRESS and DEFERRED.
TASK_STATUSES = ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")
TASK_TYPES = ("EMAIL", "CALL", "TODO")
TASK_PRIORITIES = ("NONE", "LOW", "MEDIUM", "HIGH")
#: When the seeded owners joined the portal (a fixed time keeps answers reproducible).
_OWNERS_SINCE_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class Owner:
    """A HubSpot user who can own records (``PublicOwner``)."""

    id: str
    user_id: int
    email: str
    first_name: str
    last_name: str
    team: str = "Sales"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": self.user_id,
            "userIdIncludingInactive": self.user_id,
            "createdAt": iso_ms(_OWNERS_SINCE_MS),
            "updatedAt": iso_ms(_OWNERS_SINCE_MS),
            "archived": False,
            "teams": [{"id": "4711", "name": self.team, "primary": True}],
        }


#: The portal's users. Seeded contacts and activities are owned by the first three.
OWNERS: tuple[Owner, ...] = (
    Owner("61512301", 9_100_001, "anna.berg@example.com", "Anna", "Berg"),
    Owner("61512302", 9_100_002, "ben.okafor@example.com", "Ben", "Okafor"),
    Owner("61512303", 9_100_003, "carla.ruiz@example.com", "Carla", "Ruiz"),
    Owner("61512304", 9_100_004, "dmitri.volkov@example.com", "Dmitri", "Volkov"),
    Owner("61512305", 9_100_005, "emma.lind@example.com", "Emma", "Lind", team="Enterprise"),
)


def _options(values: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {"label": v.replace("_", " ").title(), "value": v, "displayOrder": i, "hidden": False}
        for i, v in enumerate(values)
    ]


def owner_options(owners: tuple[Owner, ...] = OWNERS) -> list[dict[str, Any]]:
    """The options of a ``hubspot_owner_id`` property: one per owner, valued by owner id."""
    return [
        {
            "label": f"{o.first_name} {o.last_name}",
            "value": o.id,
            "displayOrder": i,
            "hidden": False,
        }
        for i, o in enumerate(owners)
    ]


def task_properties() -> dict[str, PropertyDef]:
    group = "task"
    defs = [
        PropertyDef("hs_timestamp", "Due date", "datetime", "date", group),
        PropertyDef("hs_task_subject", "Task Title", "string", "text", group),
        PropertyDef("hs_task_body", "Notes", "string", "html", group),
        PropertyDef(
            "hs_task_status", "Task Status", "enumeration", "select", group, _options(TASK_STATUSES)
        ),
        PropertyDef(
            "hs_task_type", "Task Type", "enumeration", "select", group, _options(TASK_TYPES)
        ),
        PropertyDef(
            "hs_task_priority",
            "Priority",
            "enumeration",
            "select",
            group,
            _options(TASK_PRIORITIES),
        ),
        PropertyDef(
            "hubspot_owner_id", "Assigned to", "enumeration", "select", group, owner_options()
        ),
        PropertyDef("hs_createdate", "Create date", "datetime", "date", group, read_only=True),
        PropertyDef(
            "hs_lastmodifieddate", "Last modified date", "datetime", "date", group, read_only=True
        ),
        PropertyDef("hs_object_id", "Record ID", "number", "number", group, read_only=True),
    ]
    return {d.name: d for d in defs}


def moves_lifecycle_back(current: str | None, requested: Any) -> bool:
    """Whether an API write of ``requested`` would move the lifecycle stage backwards.

    HubSpot moves a lifecycle stage forward only: a write of an earlier stage keeps the stage
    as it is, without an error; clearing it first (an empty value) lets any stage be set next.
    Custom stages (numeric internal values) have no known order here and are let through.
    """
    if current is None or requested is None or requested == "":
        return False
    order = {stage: index for index, stage in enumerate(LIFECYCLE_STAGES)}
    now, wanted = order.get(current), order.get(str(requested))
    return now is not None and wanted is not None and wanted < now
