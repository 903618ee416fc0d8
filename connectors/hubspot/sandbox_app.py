"""The sandbox's HTTP face: routes, Bearer auth, HubSpot's rate limits and their headers.

Limits are the ones for privately distributed apps on Free/Starter in the usage guidelines
(https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines): 100 requests
per 10 seconds and 250,000 a day; the search endpoints are held to 5 requests per second and are
exempt from the ten-secondly window (``x-hubspot-rate-limit-exemptions`` in the OpenAPI specs).
Responses other than search carry the ``X-HubSpot-RateLimit-*`` headers; search responses carry
none ("Responses from the search API endpoints will not include any of the rate limit
headers"). A 429 body names the policy that was hit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smarketing_sync.testing.sandbox import CallLog, RateWindow

from .sandbox_handoff import routes as handoff_routes
from .sandbox_schema import CONTACT_ASSOCIATION_TYPE, ENGAGEMENT_TYPES, iso_ms
from .sandbox_search import SearchError, run_search
from .sandbox_store import Portal
from .sandbox_writes import (
    Answer,
    BadRequest,
    batch_update,
    batch_upsert,
    create_group,
    create_properties,
    create_property,
    error_body,
)

TEN_SECONDLY, SECONDLY_SEARCH, DAILY = (100, 10.0), (5, 1.0), (250_000, 86_400.0)
ASSOCIATIONS_BATCH_LIMIT = 1_000
LIST_MAX_LIMIT = 100
Handler = Callable[[Request, Any], Answer]

_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def _rate_limited(message: str, policy: str) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
        "requestId": str(uuid.uuid4()),
    }


class SandboxApi:
    """Routes of the HubSpot subset the connector uses, over one ``Portal``."""

    def __init__(
        self,
        portal: Portal,
        calls: CallLog,
        *,
        token: str,
        time_scale: float,
        association_page_size: int = 500,
    ) -> None:
        self.portal = portal
        self.calls = calls
        self.token = token
        self.time_scale = time_scale
        self.association_page_size = association_page_size
        self.ten_secondly = RateWindow(*TEN_SECONDLY, time_scale=time_scale)
        self.search_window = RateWindow(*SECONDLY_SEARCH, time_scale=time_scale)
        self.daily = RateWindow(*DAILY, time_scale=time_scale)

    def app(self) -> Starlette:
        def route(path: str, method: str, handler: Handler, *, search: bool = False) -> Route:
            async def endpoint(request: Request) -> Response:
                return await self._serve(request, handler, search=search)

            return Route(path, endpoint, methods=[method])

        return Starlette(
            routes=[
                # Tasks, batch reads and owners: the CRM side of a hand-off
                # (first: contacts->tasks is more specific than the engagement associations).
                *(
                    route(path, method, handler)
                    for path, method, handler in handoff_routes(self.portal)
                ),
                route("/crm/v3/objects/contacts", "GET", self._list_contacts),
                route("/crm/v3/objects/contacts/batch/update", "POST", self._batch_update),
                route("/crm/v3/objects/contacts/batch/upsert", "POST", self._batch_upsert),
                route("/crm/v3/objects/{object_type}/search", "POST", self._search, search=True),
                route(
                    "/crm/v4/associations/{from_type}/{to_type}/batch/read",
                    "POST",
                    self._associations,
                ),
                route("/crm/v3/properties/contacts", "GET", self._list_properties),
                route("/crm/v3/properties/contacts", "POST", self._create_property),
                route("/crm/v3/properties/contacts/batch/create", "POST", self._create_properties),
                route("/crm/v3/properties/contacts/groups", "GET", self._list_groups),
                route("/crm/v3/properties/contacts/groups", "POST", self._create_group),
            ]
        )

    # -- the pipeline every request goes through -------------------------------------------

    async def _serve(self, request: Request, handler: Handler, *, search: bool) -> Response:
        self.calls.record(request, request.url.path)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            body = error_body("INVALID_AUTHENTICATION", _AUTH_MESSAGE)
            return JSONResponse(body, status_code=401)
        limited, headers = self._throttle(search)
        if limited is not None:
            self.calls.record_throttle()
            return limited
        payload: Any = None
        if request.method == "POST":
            try:
                payload = json.loads(await request.body() or b"null")
            except ValueError:
                body = error_body("VALIDATION_ERROR", "Invalid input JSON")
                return JSONResponse(body, status_code=400, headers=headers)
        try:
            with self.portal.lock:
                status, body = handler(request, payload)
        except BadRequest as exc:
            status, body = exc.status, exc.body
        return JSONResponse(body, status_code=status, headers=headers)

    def _throttle(self, search: bool) -> tuple[Response | None, dict[str, str] | None]:
        """A 429 when a window is full, else the rate-limit headers for the answer (if any)."""
        if search:
            if not self.search_window.hit().allowed:
                body = _rate_limited("You have reached your secondly limit.", "SECONDLY")
                return JSONResponse(body, status_code=429), None
            daily = self.daily.hit()
            if not daily.allowed:
                body = _rate_limited("You have reached your daily limit.", "DAILY")
                return JSONResponse(body, status_code=429), None
            return None, None
        burst = self.ten_secondly.hit()
        if not burst.allowed:
            body = _rate_limited(
                "You have reached your ten_secondly_rolling limit.", "TEN_SECONDLY_ROLLING"
            )
            headers = self._headers(0, None)
            return JSONResponse(body, status_code=429, headers=headers), None
        daily = self.daily.hit()
        headers = self._headers(burst.remaining, daily.remaining)
        if not daily.allowed:
            body = _rate_limited("You have reached your daily limit.", "DAILY")
            return JSONResponse(body, status_code=429, headers=headers), None
        return None, headers

    def _headers(self, remaining: int, daily_remaining: int | None) -> dict[str, str]:
        # The interval is the compressed one: it is how long this sandbox's window really is.
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(
                int(self.ten_secondly.per_seconds * 1000)
            ),
            "X-HubSpot-RateLimit-Max": str(TEN_SECONDLY[0]),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
        }
        if daily_remaining is not None:
            headers["X-HubSpot-RateLimit-Daily"] = str(DAILY[0])
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(daily_remaining)
        return headers

    # -- handlers (called with the portal lock held) -----------------------------------------

    def _list_contacts(self, request: Request, _: Any) -> Answer:
        try:
            limit = int(request.query_params.get("limit", "10"))
        except ValueError:
            raise BadRequest(
                400, error_body("VALIDATION_ERROR", "limit must be a number")
            ) from None
        limit = max(1, min(limit, LIST_MAX_LIMIT))
        after = request.query_params.get("after", "0")
        start = int(after) if after.isdigit() else 0
        names = [n for n in request.query_params.get("properties", "").split(",") if n]
        names = names or ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate"]
        table = self.portal.tables["contacts"]
        page = sorted(i for i in table.objects if i > start and not table.objects[i].archived)
        chosen = page[:limit]
        body: dict[str, Any] = {"results": [table.objects[i].as_json(names) for i in chosen]}
        if len(page) > limit:
            nxt = str(chosen[-1])
            body["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return 200, body

    def _search(self, request: Request, payload: Any) -> Answer:
        object_type = request.path_params["object_type"]
        table = self.portal.tables.get(object_type)
        if table is None:
            message = f"Unable to infer object type from: {object_type}"
            raise BadRequest(400, error_body("VALIDATION_ERROR", message))
        try:
            return run_search(table, self.portal.properties[object_type], payload)
        except SearchError as exc:
            raise BadRequest(400, error_body("VALIDATION_ERROR", str(exc))) from None

    def _batch_update(self, _: Request, payload: Any) -> Answer:
        return batch_update(self.portal, payload)

    def _batch_upsert(self, _: Request, payload: Any) -> Answer:
        return batch_upsert(self.portal, payload)

    def _associations(self, request: Request, payload: Any) -> Answer:
        from_type, to_type = request.path_params["from_type"], request.path_params["to_type"]
        if from_type not in ENGAGEMENT_TYPES or to_type != "contacts":
            message = f"the sandbox stores engagement-to-contact associations only: {from_type}"
            raise BadRequest(400, error_body("VALIDATION_ERROR", message))
        inputs = payload.get("inputs") if isinstance(payload, dict) else None
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= ASSOCIATIONS_BATCH_LIMIT:
            message = f"inputs must hold between 1 and {ASSOCIATIONS_BATCH_LIMIT} ids"
            raise BadRequest(400, error_body("VALIDATION_ERROR", message))
        table = self.portal.tables[from_type]
        singular = from_type[:-1]
        type_id = CONTACT_ASSOCIATION_TYPE[from_type]
        started = self.portal.clock.now_ms()
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in inputs:
            from_id = str((item or {}).get("id", ""))
            obj = table.objects.get(int(from_id)) if from_id.isdigit() else None
            contacts = obj.contact_ids if obj is not None else []
            if not contacts:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": f"No contact is associated with {singular} {from_id}.",
                        "context": {
                            "fromObjectId": [from_id],
                            "fromObjectType": [singular],
                            "toObjectType": ["contact"],
                        },
                    }
                )
                continue
            after = str(item.get("after") or "0")
            offset = int(after) if after.isdigit() else 0
            window = contacts[offset : offset + self.association_page_size]
            result: dict[str, Any] = {
                "from": {"id": from_id},
                "to": [
                    {
                        "toObjectId": contact_id,
                        "associationTypes": [
                            {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}
                        ],
                    }
                    for contact_id in window
                ],
            }
            if offset + len(window) < len(contacts):
                result["paging"] = {"next": {"after": str(offset + len(window))}}
            results.append(result)
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso_ms(started),
            "completedAt": iso_ms(self.portal.clock.now_ms()),
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
            return 207, body
        return 200, body

    def _list_properties(self, _: Request, __: Any) -> Answer:
        defs = self.portal.properties["contacts"]
        return 200, {"results": [d.as_json() for d in defs.values()]}

    def _create_property(self, _: Request, payload: Any) -> Answer:
        return create_property(self.portal, payload)

    def _create_properties(self, _: Request, payload: Any) -> Answer:
        return create_properties(self.portal, payload)

    def _list_groups(self, _: Request, __: Any) -> Answer:
        return 200, {"results": list(self.portal.groups.values())}

    def _create_group(self, _: Request, payload: Any) -> Answer:
        return create_group(self.portal, payload)
