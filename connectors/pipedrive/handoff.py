"""Creating the CRM side of a hand-off in Pipedrive: a lead or deal, then a follow-up activity.

One ``HandoffRequest`` becomes at most two creates, and neither has an upsert, so every object
carries the hand-off's key where an exact lookup can find it again:

- a lead: ``origin_id`` ("The optional ID to further distinguish the origin of the lead - e.g.
  Which API integration created this lead", ``POST /v1/leads``), found by listing the person's
  leads (``GET /v1/leads?person_id=`` and ``/v1/leads/archived?person_id=``);
- a deal: a text custom field ``smarketing-sync hand-off key`` (created when missing), because
  ``POST /api/v2/deals`` does not take ``origin_id``; found by listing the person's deals with
  just that field (``GET /api/v2/deals?person_id=&custom_fields=``);
- the activity: a line ``[smarketing-sync hand-off <key>]`` at the end of its note, found by
  listing the activities of the lead, the deal or (task only) the person.

Lists are exact and read the primary store; the search endpoints would also work but their
index may lag behind a write made seconds earlier. Lookups run only on ``attempt > 1``: a first
attempt has nothing to find. A lead or deal found on a re-send is reused and only the missing
activity is created.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from weakref import WeakKeyDictionary

from smarketing_sync import (
    AuthError,
    ContractError,
    HandoffCreated,
    HandoffRequest,
    Http,
    RecordError,
    TransientError,
)

from .fields import DEAL_FIELDS, load_catalog
from .v2 import data_of, pages

LEADS = "/api/v1/leads"
ARCHIVED_LEADS = "/api/v1/leads/archived"
DEALS = "/api/v2/deals"
ACTIVITIES = "/api/v2/activities"
KEY_FIELD = "smarketing-sync hand-off key"
HANDOFF_CONCURRENCY = 4  # hand-offs in flight at once, like person pushes
V1_PAGE = 500
OBJECTS = ("lead", "deal", "task")

#: The code of the deal key field per HTTP client (one sync run), so it is read once per run.
_KEY_FIELDS: WeakKeyDictionary[Http, str] = WeakKeyDictionary()


def note_marker(key: str) -> str:
    return f"[smarketing-sync hand-off {key}]"


def note_with_key(note: str, key: str) -> str:
    """The task note with the key line appended; the note is HTML, so the text is escaped."""
    text = html.escape(note.strip())
    marker = html.escape(note_marker(key))
    return f"{text}<br><br>{marker}" if text else marker


def note_has_key(note: Any, key: str) -> bool:
    """True when ``note`` carries exactly this key's line (not a key it is a prefix of)."""
    if not isinstance(note, str):
        return False
    return note_marker(key) in html.unescape(re.sub(r"<[^>]*>", " ", note))


def pipedrive_id(name: str, value: str | None) -> int | None:
    """A Pipedrive user/person/pipeline/stage id from its text form; ValueError says which."""
    if value is None or str(value).strip() == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be a Pipedrive id (a whole number), not {value!r}") from None


@dataclass(slots=True)
class Progress:
    """What one request has created so far, reported even when a later step fails."""

    object_id: str | None = None
    task_id: str | None = None


class HandoffWriter:
    """Sends one ``create_handoffs`` call: each request under a semaphore, isolated failures."""

    def __init__(self, http: Http) -> None:
        self.http = http
        self._slots = asyncio.Semaphore(HANDOFF_CONCURRENCY)
        self._field_lock = asyncio.Lock()
        self._stopped = False  # set after an AuthError: nothing new is started

    async def create(self, requests: Sequence[HandoffRequest]) -> list[HandoffCreated]:
        """One outcome per request, in order; a key sent twice in one call is created once."""
        unique: dict[str, HandoffRequest] = {}
        for request in requests:
            seen = unique.get(request.key)
            if seen is None or request.attempt > seen.attempt:
                unique[request.key] = request  # the highest attempt looks up first
        results = await asyncio.gather(
            *(self._guarded(r) for r in unique.values()), return_exceptions=True
        )
        by_key: dict[str, HandoffCreated] = {}
        for result in results:
            if isinstance(result, BaseException):
                raise result  # AuthError for the whole call, or a bug: never swallowed
            by_key[result.key] = result
        return [by_key[request.key] for request in requests]

    async def _guarded(self, request: HandoffRequest) -> HandoffCreated:
        async with self._slots:
            if self._stopped:
                return HandoffCreated(
                    request.key, False, error="not sent: credential rejected", retryable=True
                )
            progress = Progress()
            try:
                await self._create(request, progress)
            except AuthError:
                self._stopped = True
                raise
            except ValueError as exc:
                return self._failed(request, progress, f"hand-off {request.key}: {exc}")
            except TransientError as exc:
                return self._failed(request, progress, str(exc), retryable=True)
            except RecordError as exc:
                return self._failed(request, progress, self._reason(request, exc))
            return HandoffCreated(
                request.key, True, object_id=progress.object_id, task_id=progress.task_id
            )

    @staticmethod
    def _failed(
        request: HandoffRequest, progress: Progress, error: str, *, retryable: bool = False
    ) -> HandoffCreated:
        return HandoffCreated(
            request.key,
            False,
            object_id=progress.object_id,
            task_id=progress.task_id,
            error=error,
            retryable=retryable,
        )

    @staticmethod
    def _reason(request: HandoffRequest, exc: RecordError) -> str:
        if exc.status in (404, 410):
            return (
                f"Pipedrive person {request.person_id} (or an object the hand-off links to) "
                f"no longer exists; it was deleted or merged in Pipedrive. Vendor answer: {exc}"
            )
        return str(exc)

    async def _create(self, request: HandoffRequest, progress: Progress) -> None:
        if request.object not in OBJECTS:
            raise ValueError(f"object must be one of {', '.join(OBJECTS)}, not {request.object!r}")
        if request.due_at.tzinfo is None:
            raise ValueError("due_at must be timezone-aware (UTC)")
        person = pipedrive_id("person_id", request.person_id)
        if person is None:
            raise ValueError("person_id is empty: the person must exist in Pipedrive first")
        owner = pipedrive_id("owner_id", request.owner_id)
        link: dict[str, Any] = {}
        reused = False
        if request.object == "lead":
            lead, reused = await self._lead(request, person, owner)
            progress.object_id, link = lead, {"lead_id": lead}
        elif request.object == "deal":
            deal, reused = await self._deal(request, person, owner)
            progress.object_id, link = str(deal), {"deal_id": deal}
        existing = None
        # A lead/deal created just now has no activity yet; a task-only re-send must look.
        if request.attempt > 1 and (reused or request.object == "task"):
            existing = await self._find_task(request.key, link or {"person_id": person})
        progress.task_id = existing or await self._create_task(request, person, owner, link)

    # -- leads --------------------------------------------------------------------------------

    async def _lead(
        self, request: HandoffRequest, person: int, owner: int | None
    ) -> tuple[str, bool]:
        if request.attempt > 1:
            found = await self._find_lead(request.key, person)
            if found is not None:
                return found, True
        body: dict[str, Any] = {"title": request.title, "person_id": person}
        body["origin_id"] = request.key
        if owner is not None:
            body["owner_id"] = owner
        answer = await self.http.json(await self.http.post(LEADS, json=body, idempotent=False))
        lead_id = data_of(self.http, LEADS, answer).get("id")
        if not isinstance(lead_id, str) or not lead_id:
            raise ContractError(f"{self.http.connector}: POST {LEADS} answered without a lead id")
        return lead_id, False

    async def _find_lead(self, key: str, person: int) -> str | None:
        # An unacknowledged lead may have been archived since; both lists are read.
        for path in (LEADS, ARCHIVED_LEADS):
            start = 0
            while True:
                params = {"person_id": person, "start": start, "limit": V1_PAGE}
                answer = await self.http.json(await self.http.get(path, params=params))
                for lead in data_of(self.http, path, answer, kind=list):
                    if isinstance(lead, Mapping) and lead.get("origin_id") == key:
                        return str(lead["id"])
                pagination = (answer.get("additional_data") or {}).get("pagination") or {}
                if not pagination.get("more_items_in_collection"):
                    break
                next_start = pagination.get("next_start")
                if not isinstance(next_start, int) or next_start <= start:
                    raise ContractError(
                        f"{self.http.connector}: {path} announced more items without a "
                        f"next_start after {start}"
                    )
                start = next_start
        return None

    # -- deals --------------------------------------------------------------------------------

    async def _deal(
        self, request: HandoffRequest, person: int, owner: int | None
    ) -> tuple[int, bool]:
        code = await self._key_field()
        if request.attempt > 1:
            found = await self._find_deal(request.key, person, code)
            if found is not None:
                return found, True
        body: dict[str, Any] = {
            "title": request.title,
            "person_id": person,
            "custom_fields": {code: request.key},
        }
        if owner is not None:
            body["owner_id"] = owner
        pipeline = pipedrive_id("pipeline", request.pipeline)
        stage = pipedrive_id("stage", request.stage)
        if stage is not None:
            body["stage_id"] = stage  # Pipedrive derives the pipeline from the stage
        if pipeline is not None:
            body["pipeline_id"] = pipeline
        answer = await self.http.json(await self.http.post(DEALS, json=body, idempotent=False))
        deal_id = data_of(self.http, DEALS, answer).get("id")
        if not isinstance(deal_id, int):
            raise ContractError(f"{self.http.connector}: POST {DEALS} answered without a deal id")
        return deal_id, False

    async def _key_field(self) -> str:
        """The code of the deal field holding hand-off keys, created on first use."""
        async with self._field_lock:
            code = _KEY_FIELDS.get(self.http)
            if code is not None:
                return code
            definition = (await load_catalog(self.http, DEAL_FIELDS)).by_name(KEY_FIELD)
            if definition is not None:
                code = definition.code
            else:
                body = {"field_name": KEY_FIELD, "field_type": "varchar"}
                answer = await self.http.json(await self.http.post(DEAL_FIELDS, json=body))
                code = data_of(self.http, DEAL_FIELDS, answer).get("field_code")
                if not isinstance(code, str) or not code:
                    raise ContractError(
                        f"{self.http.connector}: POST {DEAL_FIELDS} answered without field_code"
                    )
            _KEY_FIELDS[self.http] = code
            return code

    async def _find_deal(self, key: str, person: int, code: str) -> int | None:
        params = {"person_id": person, "custom_fields": code}
        async for deals in pages(self.http, DEALS, params):
            for deal in deals:
                custom = deal.get("custom_fields") if isinstance(deal, Mapping) else None
                if isinstance(custom, Mapping) and custom.get(code) == key:
                    return int(deal["id"])
        return None

    # -- the follow-up activity ---------------------------------------------------------------

    async def _find_task(self, key: str, scope: Mapping[str, Any]) -> str | None:
        async for activities in pages(self.http, ACTIVITIES, scope):
            for activity in activities:
                if isinstance(activity, Mapping) and note_has_key(activity.get("note"), key):
                    return str(activity["id"])
        return None

    async def _create_task(
        self, request: HandoffRequest, person: int, owner: int | None, link: Mapping[str, Any]
    ) -> str:
        due = request.due_at.astimezone(UTC)
        body: dict[str, Any] = {
            "subject": request.task_subject or request.title,
            "type": request.task_type,
            # UTC, as v1 documented ("The due time of the activity in UTC. Format: HH:MM").
            "due_date": due.strftime("%Y-%m-%d"),
            "due_time": due.strftime("%H:%M"),
            # v2: person_id is read-only; the person is set as the primary participant.
            "participants": [{"person_id": person, "primary": True}],
            "note": note_with_key(request.task_note, request.key),
            **link,
        }
        if owner is not None:
            body["owner_id"] = owner
        answer = await self.http.json(await self.http.post(ACTIVITIES, json=body, idempotent=False))
        task_id = data_of(self.http, ACTIVITIES, answer).get("id")
        if not isinstance(task_id, int):
            raise ContractError(
                f"{self.http.connector}: POST {ACTIVITIES} answered without an activity id"
            )
        return str(task_id)
