"""Hand-off writes of the Pipedrive sandbox: deals, activities and deal fields, validated like v2.

Rules from the v2 references and the migration guide
(https://pipedrive.readme.io/docs/pipedrive-api-v2-migration-guide):

- ``POST /api/v2/deals`` needs ``title``; ``stage_id`` must belong to ``pipeline_id``; custom
  fields go inside ``custom_fields`` keyed by their 40-hex code (Deals reference);
- ``POST /api/v2/activities`` links a person through ``participants`` (``{person_id,
  primary}``): ``person_id`` is read-only in v2 and answers 400 "'person_id' is a read-only
  field. Add a primary participant to set 'person_id' instead." (``ERR_BAD_REQUEST``, quoted in
  https://devcommunity.pipedrive.com/t/api-v1-to-v2-upgrade-post-activities-http-400-responses/19734);
  ``due_date`` is ``YYYY-MM-DD``, ``due_time`` ``HH:MM`` in UTC;
- unknown body parameters are rejected, as everywhere in v2.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from .sandbox_fields import check_custom_values
from .sandbox_model import USERS, Activity, Deal
from .sandbox_params import json_body
from .sandbox_state import ApiError, validation_error
from .sandbox_writes import create_field

if TYPE_CHECKING:
    from .sandbox import PipedriveSandbox

DEAL_BODY_KEYS = frozenset(
    {
        "title",
        "owner_id",
        "person_id",
        "org_id",
        "pipeline_id",
        "stage_id",
        "value",
        "currency",
        "status",
        "probability",
        "lost_reason",
        "visible_to",
        "expected_close_date",
        "label_ids",
        "custom_fields",
    }
)
ACTIVITY_BODY_KEYS = frozenset(
    {
        "subject",
        "type",
        "owner_id",
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
        "location",
        "participants",
        "attendees",
        "public_description",
        "priority",
        "note",
    }
)
_DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _not_allowed(keys: set[str]) -> ApiError:
    return validation_error(
        "; ".join(f"{k}: Parameter '{k}' is not allowed for this request" for k in sorted(keys))
    )


def _owner(body: dict[str, Any]) -> int:
    owner = body.get("owner_id", 1)  # "If omitted, the user making the request is used"
    if not _is_int(owner) or owner not in USERS:
        raise validation_error("owner_id: User not found")
    return int(owner)


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise validation_error(f"{key}: Expected 'string' as value")
    return value


class HandoffWrites:
    """POST handlers for deals, activities and deal fields; a rejected request changes nothing."""

    def __init__(self, sandbox: PipedriveSandbox) -> None:
        self.sb = sandbox

    def _live_person(self, person_id: Any, param: str) -> int:
        if not _is_int(person_id):
            raise validation_error(f"{param}: Expected 'number' as value")
        if self.sb.persons.live(person_id) is None:
            # Status and wording for a deleted person are not confirmed from the reference.
            raise ApiError(404, f"Person with id {person_id} not found")
        return int(person_id)

    async def create_deal(self, request: Request) -> tuple[int, dict[str, Any]]:
        from .sandbox import PIPELINES

        body = await json_body(request)
        if not isinstance(body, dict):
            raise validation_error("body: Expected a JSON object")
        unknown = set(body) - DEAL_BODY_KEYS
        if unknown:
            raise _not_allowed(unknown)
        title = _text(body, "title")
        if not title or not title.strip():
            raise validation_error("title: Parameter 'title' is required")
        pipeline, stage = body.get("pipeline_id"), body.get("stage_id")
        for key, value in (("pipeline_id", pipeline), ("stage_id", stage)):
            if value is not None and not _is_int(value):
                raise validation_error(f"{key}: Expected 'number' as value")
        if pipeline is not None and pipeline not in PIPELINES:
            raise validation_error(f"pipeline_id: Pipeline with id {pipeline} not found")
        if stage is not None:
            owning = next((p for p, stages in PIPELINES.items() if stage in stages), None)
            if owning is None:
                raise validation_error(f"stage_id: Stage with id {stage} not found")
            if pipeline is not None and owning != pipeline:
                raise validation_error(
                    f"stage_id: Stage {stage} does not belong to pipeline {pipeline}"
                )
            pipeline = owning
        pipeline = pipeline if pipeline is not None else min(PIPELINES)
        stage = stage if stage is not None else PIPELINES[pipeline][0]
        status = body.get("status", "open")
        if status not in ("open", "won", "lost"):
            raise validation_error("status: Parameter 'status' must be open, won or lost")
        with self.sb.lock:
            person = body.get("person_id")
            person_id = None if person is None else self._live_person(person, "person_id")
            custom = check_custom_values(self.sb.deal_fields, body.get("custom_fields", {}))
            stamp = self.sb.write_time(0)
            deal = Deal(
                id=self.sb.deals_table.new_id(),
                add_time=stamp,
                update_time=stamp,
                title=title.strip(),
                owner_id=_owner(body),
                person_id=person_id,
                org_id=body.get("org_id"),
                pipeline_id=pipeline,
                stage_id=stage,
                value=float(body.get("value") or 0),
                currency=_text(body, "currency", "EUR") or "EUR",
                status=status,
                stage_change_time=stamp,
                origin="API",
                custom=custom,
            )
            self.sb.deals_table.insert(deal)
            codes = [f.code for f in self.sb.deal_fields.custom()]
            return 200, {"success": True, "data": deal.to_api(codes)}

    async def create_activity(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise validation_error("body: Expected a JSON object")
        if "person_id" in body:
            raise ApiError(
                400,
                "'person_id' is a read-only field. Add a primary participant to set "
                "'person_id' instead.",
                code="ERR_BAD_REQUEST",
            )
        unknown = set(body) - ACTIVITY_BODY_KEYS
        if unknown:
            raise _not_allowed(unknown)
        from .sandbox import ACTIVITY_TYPES

        kind = _text(body, "type", "task")
        if kind not in ACTIVITY_TYPES:
            raise validation_error(f"type: Activity type '{kind}' does not exist")
        due_date, due_time = _text(body, "due_date"), _text(body, "due_time")
        if due_date is not None and not _DATE.match(due_date):
            raise validation_error("due_date: Expected a date in YYYY-MM-DD format")
        if due_time is not None and not _TIME.match(due_time):
            raise validation_error("due_time: Expected a time in HH:MM format")
        done = body.get("done", False)
        if not isinstance(done, bool):
            raise validation_error("done: Expected 'boolean' as value")
        with self.sb.lock:
            participants = self._participants(body.get("participants", []))
            deal_id, lead_id = self._links(body)
            stamp = self.sb.write_time(0)
            primary = next((p["person_id"] for p in participants if p["primary"]), None)
            activity = Activity(
                id=self.sb.activities_table.new_id(),
                add_time=stamp,
                update_time=stamp,
                subject=_text(body, "subject") or kind.capitalize(),
                type=kind,
                owner_id=_owner(body),
                person_id=primary,
                participants=participants,
                deal_id=deal_id,
                lead_id=lead_id,
                due_date=due_date,
                due_time=f"{due_time}:00" if due_time and len(due_time) == 5 else due_time,
                duration=_text(body, "duration"),
                done=done,
                marked_as_done_time=stamp if done else None,
                note=_text(body, "note"),
                public_description=_text(body, "public_description"),
            )
            self.sb.activities_table.insert(activity)
            return 200, {"success": True, "data": activity.to_api()}

    def _participants(self, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
            raise validation_error("participants: Expected an array of objects")
        participants: list[dict[str, Any]] = []
        for item in value:
            extra = set(item) - {"person_id", "primary"}
            if extra:
                raise _not_allowed({f"participants.{k}" for k in extra})
            primary = item.get("primary", False)
            if not isinstance(primary, bool):
                raise validation_error("participants.primary: Expected 'boolean' as value")
            person_id = self._live_person(item.get("person_id"), "participants.person_id")
            participants.append({"person_id": person_id, "primary": primary})
        if sum(1 for p in participants if p["primary"]) > 1:
            raise validation_error("participants: Only one participant can be primary")
        if participants and not any(p["primary"] for p in participants):
            participants[0]["primary"] = True
        return participants

    def _links(self, body: dict[str, Any]) -> tuple[int | None, str | None]:
        deal_id, lead_id = body.get("deal_id"), body.get("lead_id")
        if deal_id is not None and (
            not _is_int(deal_id) or self.sb.deals_table.live(deal_id) is None
        ):
            raise validation_error(f"deal_id: Deal with id {deal_id} not found")
        if lead_id is not None:
            lead = self.sb.leads_table.get(lead_id) if isinstance(lead_id, str) else None
            if lead is None or lead.is_deleted:
                raise validation_error(f"lead_id: Lead with id {lead_id} not found")
        return deal_id, lead_id

    async def create_deal_field(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = await json_body(request)
        with self.sb.lock:
            return 200, {"success": True, "data": create_field(self.sb.deal_fields, body)}
