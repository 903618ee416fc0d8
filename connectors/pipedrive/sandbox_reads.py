"""Read endpoints of the Pipedrive sandbox: v2 lists, one person, person search, fields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from .sandbox_model import Person
from .sandbox_params import (
    Handler,
    custom_filter,
    ids_filter,
    int_param,
    offset_cursor,
    page_request,
    parse_limit,
    read_offset_cursor,
)
from .sandbox_state import ApiError, PageRequest, validation_error

if TYPE_CHECKING:
    from .sandbox import PipedriveSandbox


class ReadHandlers:
    """GET handlers; each answers ``(status, body)`` in Pipedrive's envelope."""

    def __init__(self, sandbox: PipedriveSandbox) -> None:
        self.sb = sandbox

    def _custom_codes(self, entity: str) -> list[str]:
        fields = self.sb.person_fields if entity == "person" else self.sb.deal_fields
        return [f.code for f in fields.custom()]

    async def users_me(self, request: Request) -> tuple[int, dict[str, Any]]:
        return 200, {
            "success": True,
            "data": {
                "id": 1,
                "name": "Sandbox Admin",
                "email": "admin@sandbox.example",
                "company_id": 1,
                "company_name": "Sandbox",
                "company_domain": "sandbox",
                "active_flag": True,
                "is_admin": 1,
                "timezone_name": "UTC",
            },
        }

    async def list_persons(self, request: Request) -> tuple[int, dict[str, Any]]:
        page = page_request(request, ("id", "update_time", "add_time"))
        only, ids = custom_filter(request), ids_filter(request)
        owner, org = int_param(request, "owner_id"), int_param(request, "org_id")

        def keep(p: Person) -> bool:
            return (
                (ids is None or p.id in ids)
                and (owner is None or p.owner_id == owner)
                and (org is None or p.org_id == org)
            )

        with self.sb.lock:
            codes = self._custom_codes("person")
            if self.sb.page_cap is not None:  # a vendor may answer fewer than asked for
                page.limit = min(page.limit, self.sb.page_cap)
            found, cursor = self.sb.persons.page(page, keep)
            cursor = self._cursor_fault(page, cursor, keep)
            data = [p.to_api(codes, only) for p in found]
        return 200, {"success": True, "data": data, "additional_data": {"next_cursor": cursor}}

    def _cursor_fault(
        self, page: PageRequest, cursor: str | None, keep: Callable[[Person], bool]
    ) -> str | None:
        """Injected cursor bugs (``PipedriveSandbox.page_faults``): a page served twice, or
        the page after this one never served. Each fault fires once, on a page that has a
        successor (and, for a repeat, a cursor of its own to hand back)."""
        faults = self.sb.page_faults
        if not faults or cursor is None:
            return cursor
        if faults[0] == "repeat" and page.cursor is not None:
            faults.pop(0)
            self.sb.page_faults_served["repeat"] += 1
            return page.cursor
        if faults[0] == "skip":
            faults.pop(0)
            self.sb.page_faults_served["skip"] += 1
            _skipped, after = self.sb.persons.page(replace(page, cursor=cursor), keep)
            return after
        return cursor

    async def get_person(self, request: Request) -> tuple[int, dict[str, Any]]:
        only = custom_filter(request)
        with self.sb.lock:
            person = self.sb.persons.live(int(request.path_params["id"]))
            if person is None:
                raise ApiError(404, "Person not found")  # wording not confirmed
            return 200, {"success": True, "data": person.to_api(self._custom_codes("person"), only)}

    async def search_persons(self, request: Request) -> tuple[int, dict[str, Any]]:
        params = request.query_params
        exact = params.get("exact_match", "false").lower() == "true"
        term = (params.get("term") or "").strip().lower()
        if len(term) < (1 if exact else 2):
            raise validation_error("term: Parameter 'term' must be at least 2 characters long")
        fields = {f.strip() for f in params.get("fields", "").split(",") if f.strip()} or {
            "custom_fields",
            "email",
            "notes",
            "phone",
            "name",
        }
        if not fields <= {"custom_fields", "email", "notes", "phone", "name"}:
            raise validation_error("fields: Parameter 'fields' has an unsupported value")
        limit, offset = parse_limit(request), read_offset_cursor(params.get("cursor"))

        def hit(value: Any) -> bool:
            text = str(value or "").strip().lower()
            return text == term if exact else term in text

        with self.sb.lock:
            matches = [
                p
                for p in self.sb.persons.records.values()
                if not p.is_deleted and self._searchable(p, fields, hit)
            ]
            chunk = matches[offset : offset + limit]
            items = [self._search_item(p, exact) for p in chunk]
        more = offset + limit < len(matches)
        return 200, {
            "success": True,
            "data": {"items": items},
            "additional_data": {"next_cursor": offset_cursor(offset + limit) if more else None},
        }

    def _searchable(self, person: Person, fields: set[str], hit: Callable[[Any], bool]) -> bool:
        if "email" in fields and any(hit(e["value"]) for e in person.emails):
            return True
        if "phone" in fields and any(hit(p["value"]) for p in person.phones):
            return True
        if "name" in fields and hit(person.name):
            return True
        if "custom_fields" in fields:
            text_fields = {
                f.code
                for f in self.sb.person_fields.custom()
                if f.type in ("varchar", "text", "varchar_auto", "double", "phone")
            }
            return any(hit(v) for c, v in person.custom.items() if c in text_fields)
        return False

    def _search_item(self, person: Person, exact: bool) -> dict[str, Any]:
        org = (
            {"id": person.org_id, "name": self.sb.orgs.get(person.org_id), "address": None}
            if person.org_id
            else None
        )
        return {
            "result_score": 1.0 if exact else 0.5,
            "item": {
                "id": person.id,
                "type": "person",
                "name": person.name,
                "phones": [p["value"] for p in person.phones],
                "emails": [e["value"] for e in person.emails],
                "visible_to": person.visible_to,
                "owner": {"id": person.owner_id},
                "organization": org,
                "custom_fields": [],
                "notes": [],
            },
        }

    async def list_activities(self, request: Request) -> tuple[int, dict[str, Any]]:
        page = page_request(request, ("id", "update_time", "add_time", "due_date"))
        person, deal = int_param(request, "person_id"), int_param(request, "deal_id")
        owner, ids = int_param(request, "owner_id"), ids_filter(request)
        lead = request.query_params.get("lead_id")
        done_raw = request.query_params.get("done")
        if done_raw not in (None, "true", "false"):
            raise validation_error("done: Parameter 'done' must be a boolean")
        attendees = "attendees" in request.query_params.get("include_fields", "")

        def keep(a: Any) -> bool:
            return (
                (person is None or a.person_id == person)
                and (deal is None or a.deal_id == deal)
                and (lead is None or a.lead_id == lead)
                and (owner is None or a.owner_id == owner)
                and (ids is None or a.id in ids)
                and (done_raw is None or a.done == (done_raw == "true"))
            )

        def due_key(a: Any) -> str:
            return f"{a.due_date or ''}T{a.due_time or ''}"

        with self.sb.lock:
            table = self.sb.activities_table
            sort_key = due_key if page.sort_by == "due_date" else None
            found, cursor = table.page(page, keep, sort_key)
            data = [a.to_api(attendees=attendees) for a in found]
        return 200, {"success": True, "data": data, "additional_data": {"next_cursor": cursor}}

    async def list_deals(self, request: Request) -> tuple[int, dict[str, Any]]:
        page = page_request(request, ("id", "update_time", "add_time"))
        only, ids = custom_filter(request), ids_filter(request)
        person, owner = int_param(request, "person_id"), int_param(request, "owner_id")
        statuses = {s.strip() for s in request.query_params.get("status", "").split(",") if s}
        if not statuses <= {"open", "won", "lost", "deleted"}:
            raise validation_error("status: Parameter 'status' must be open, won, lost or deleted")
        include = frozenset(
            f.strip() for f in request.query_params.get("include_fields", "").split(",") if f
        )

        def keep(d: Any) -> bool:
            return (
                (not statuses or d.status in statuses)
                and (person is None or d.person_id == person)
                and (owner is None or d.owner_id == owner)
                and (ids is None or d.id in ids)
            )

        with self.sb.lock:
            codes = self._custom_codes("deal")
            found, cursor = self.sb.deals_table.page(page, keep)
            data = [d.to_api(codes, only, include) for d in found]
        return 200, {"success": True, "data": data, "additional_data": {"next_cursor": cursor}}

    def field_lister(self, entity: str) -> Handler:
        async def list_fields(request: Request) -> tuple[int, dict[str, Any]]:
            limit = parse_limit(request)
            offset = read_offset_cursor(request.query_params.get("cursor"))
            fields = self.sb.person_fields if entity == "person" else self.sb.deal_fields
            with self.sb.lock:
                chunk = [f.to_api() for f in fields.fields[offset : offset + limit]]
                more = offset + limit < len(fields.fields)
            cursor = offset_cursor(offset + limit) if more else None
            return 200, {"success": True, "data": chunk, "additional_data": {"next_cursor": cursor}}

        return list_fields
