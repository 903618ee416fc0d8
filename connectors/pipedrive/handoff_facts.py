"""Reading hand-offs back from Pipedrive as flat facts, with few calls.

Per ``read_handoffs`` call: one ``GET /v1/leadLabels`` (only when leads are read), one
``GET /v1/leads/{id}`` per lead (v1 has no list filtered by ids), one ``GET /api/v2/deals?ids=``
per 100 deals, one ``GET /api/v2/activities?ids=`` per 100 tasks, and one
``GET /api/v2/deals?person_id=&include_fields=source_lead_id`` per person whose lead is gone.

A lead converted to a deal is deleted by Pipedrive ("If the conversion is successful, the lead
is marked as deleted", Leads reference), so ``GET /v1/leads/{id}`` answers 404; the deal it
became names it in ``source_lead_id`` ("The ID of the lead if the deal was converted from a
lead", v2 Deal schema). A gone lead with such a deal is ``lead.converted``; without one it
was deleted (``found=False``).

Facts (all ids as text):

- lead: ``lead.label`` (list of label names), ``lead.archived``, ``lead.owner``,
  ``lead.converted`` and, once converted, ``lead.deal_id`` plus the ``deal.*`` facts of that
  deal;
- deal: ``deal.stage``, ``deal.pipeline``, ``deal.status`` (open|won|lost),
  ``deal.lost_reason``, ``deal.owner``;
- task: ``task.done``, ``task.owner``; ``task.deleted`` when the ref's task is gone;
- ``owner``: the owner of the lead (of its deal once converted), of the deal, or of the task.

``changed_at`` is the ``update_time`` of the lead (its deal once converted), deal or task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from smarketing_sync import HandoffFacts, HandoffRef, Http, RecordError

from .handoff import ACTIVITIES, DEALS, LEADS
from .v2 import data_of, pages

LEAD_LABELS = "/api/v1/leadLabels"
IDS_PER_CALL = 100  # "up to 100 entity ids" (v2 list endpoints, ``ids``)
READ_CONCURRENCY = 4


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _int_id(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def deal_facts(deal: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "deal.stage": _text(deal.get("stage_id")),
        "deal.pipeline": _text(deal.get("pipeline_id")),
        "deal.status": deal.get("status"),
        "deal.lost_reason": deal.get("lost_reason"),
        "deal.owner": _text(deal.get("owner_id")),
    }


def task_facts(task: Mapping[str, Any] | None) -> dict[str, Any]:
    if task is None:
        return {"task.deleted": True}
    return {"task.done": bool(task.get("done")), "task.owner": _text(task.get("owner_id"))}


class FactReader:
    """Reads the objects of many refs in as few calls as Pipedrive allows."""

    def __init__(self, http: Http) -> None:
        self.http = http
        self._slots = asyncio.Semaphore(READ_CONCURRENCY)

    async def read(self, refs: Sequence[HandoffRef]) -> list[HandoffFacts]:
        lead_ids = sorted({r.object_id for r in refs if r.object == "lead" and r.object_id})
        deal_ids = {
            i for r in refs if r.object == "deal" and (i := _int_id(r.object_id)) is not None
        }
        task_ids = {i for r in refs if (i := _int_id(r.task_id)) is not None}
        labels = await self._labels() if lead_ids else {}
        leads = dict(zip(lead_ids, await asyncio.gather(*map(self._lead, lead_ids)), strict=True))
        deals = await self._by_ids(DEALS, deal_ids)
        tasks = await self._by_ids(ACTIVITIES, task_ids)
        gone = [r for r in refs if r.object == "lead" and r.object_id and not leads[r.object_id]]
        converted = await self._converted(gone)
        return [self._facts(r, labels, leads, deals, tasks, converted) for r in refs]

    # -- calls --------------------------------------------------------------------------------

    async def _labels(self) -> dict[str, str]:
        answer = await self.http.json(await self.http.get(LEAD_LABELS))
        return {
            str(label["id"]): str(label.get("name", ""))
            for label in data_of(self.http, LEAD_LABELS, answer, kind=list)
            if isinstance(label, Mapping) and "id" in label
        }

    async def _lead(self, lead_id: str) -> Mapping[str, Any] | None:
        path = f"{LEADS}/{lead_id}"
        async with self._slots:
            try:
                answer = await self.http.json(await self.http.get(path))
            except RecordError as exc:
                if exc.status in (404, 410):
                    return None  # deleted, or converted to a deal
                raise
        lead: Mapping[str, Any] = data_of(self.http, path, answer)
        return lead

    async def _by_ids(self, path: str, ids: set[int]) -> dict[int, Mapping[str, Any]]:
        found: dict[int, Mapping[str, Any]] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), IDS_PER_CALL):
            chunk = ordered[start : start + IDS_PER_CALL]
            params = {"ids": ",".join(map(str, chunk))}
            async for records in pages(self.http, path, params):
                for record in records:
                    if isinstance(record, Mapping) and isinstance(record.get("id"), int):
                        found[record["id"]] = record
        return found

    async def _converted(self, gone: Sequence[HandoffRef]) -> dict[str, Mapping[str, Any]]:
        """Lead id -> the deal it was converted into, for leads that are gone."""
        persons = sorted({p for r in gone if (p := _int_id(r.person_id)) is not None})
        wanted = {r.object_id for r in gone}
        found: dict[str, Mapping[str, Any]] = {}
        for person in persons:
            params = {"person_id": person, "include_fields": "source_lead_id"}
            async for deals in pages(self.http, DEALS, params):
                for deal in deals:
                    source = deal.get("source_lead_id") if isinstance(deal, Mapping) else None
                    if source in wanted:
                        found[str(source)] = deal
        return found

    # -- assembling ---------------------------------------------------------------------------

    def _facts(
        self,
        ref: HandoffRef,
        labels: Mapping[str, str],
        leads: Mapping[str, Mapping[str, Any] | None],
        deals: Mapping[int, Mapping[str, Any]],
        tasks: Mapping[int, Mapping[str, Any]],
        converted: Mapping[str, Mapping[str, Any]],
    ) -> HandoffFacts:
        task_id = _int_id(ref.task_id)
        task = tasks.get(task_id) if task_id is not None else None
        facts: dict[str, Any] = task_facts(task) if task_id is not None else {}
        subject: Mapping[str, Any] | None = None
        if ref.object == "lead" and ref.object_id:
            lead = leads.get(ref.object_id)
            deal = converted.get(ref.object_id)
            if lead is not None:
                subject = lead
                facts |= {
                    "lead.label": [labels.get(i, i) for i in lead.get("label_ids") or []],
                    "lead.archived": bool(lead.get("is_archived")),
                    "lead.owner": _text(lead.get("owner_id")),
                    "lead.converted": False,
                }
            elif deal is not None:
                subject = deal
                facts |= {"lead.converted": True, "lead.deal_id": _text(deal.get("id"))}
                facts |= deal_facts(deal)
        elif ref.object == "deal":
            deal_id = _int_id(ref.object_id)
            subject = deals.get(deal_id) if deal_id is not None else None
            if subject is not None:
                facts |= deal_facts(subject)
        elif ref.object == "task":
            subject = task
        if subject is None:
            return HandoffFacts(ref.key, False, facts)
        facts["owner"] = _text(subject.get("owner_id"))
        return HandoffFacts(ref.key, True, facts, _time(subject.get("update_time")))


async def read_facts(http: Http, refs: Sequence[HandoffRef]) -> list[HandoffFacts]:
    return await FactReader(http).read(refs)
