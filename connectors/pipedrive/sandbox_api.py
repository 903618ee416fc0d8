"""The HTTP face of the Pipedrive sandbox: routes, auth, burst windows, budget and envelopes.

Every answer carries the documented burst headers ``x-ratelimit-limit``, ``-remaining`` and
``-reset`` plus ``x-daily-requests-left``
(https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting); on a compressed clock
(``time_scale`` > 1) ``x-ratelimit-reset`` is fractional so clients wait compressed seconds.
Token costs per request are the v2 ``x-token-cost`` values of Pipedrive's OpenAPI documents
(list 10, single GET 1, search 20, create/update 5; ``/v1/users/me`` 2) and, for the v1 lead
endpoints, the costs on the Leads and LeadLabels reference pages (list 20, archived list 40,
one lead 2, add a lead 10, lead labels 10).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .sandbox_handoff import HandoffWrites
from .sandbox_leads import LeadHandlers
from .sandbox_params import LIST_PARAMS, Handler, error_body
from .sandbox_reads import ReadHandlers
from .sandbox_state import ApiError
from .sandbox_writes import WriteHandlers

if TYPE_CHECKING:
    from smarketing_sync.testing.sandbox import WindowVerdict

    from .sandbox import PipedriveSandbox

DAILY_WRITE_REQUESTS = 10_000  # x-daily-requests-left: the POST/PUT fair-usage counter


class SandboxApi:
    """Request plumbing shared by every route: auth, limits, budget, headers, errors."""

    def __init__(self, sandbox: PipedriveSandbox) -> None:
        self.sb = sandbox

    def endpoint(
        self,
        route: str,
        cost: int,
        handler: Handler,
        *,
        allowed: frozenset[str] = frozenset(),
        search: bool = False,
        write: bool = False,
    ) -> Callable[[Request], Awaitable[Response]]:
        sb = self.sb

        async def run(request: Request) -> Response:
            sb.calls.record(request, route)
            token = request.headers.get("x-api-token")
            if token is None and "api_token" in request.query_params:
                token = request.query_params["api_token"]
                with sb.lock:
                    sb.token_in_query += 1
            if token != sb.token:
                # Wording of Pipedrive's 401 body is not confirmed from the reference.
                return JSONResponse(error_body("unauthorized access"), status_code=401)
            fault = sb.take_fault(request.method, request.url.path)
            if fault is not None:
                return JSONResponse(error_body("Injected fault"), status_code=fault)
            verdict = sb.burst.hit()
            if verdict.allowed and search:
                verdict = sb.search_burst.hit()
            headers = self._headers(verdict)
            if not verdict.allowed:
                sb.calls.record_throttle()
                # The 429 body is not documented; the status and headers are.
                return JSONResponse(
                    error_body("Request over limit"), status_code=429, headers=headers
                )
            if not sb.spend(cost, write=write):
                sb.calls.record_throttle()
                return JSONResponse(
                    error_body("Daily API token budget exhausted"), status_code=429, headers=headers
                )
            if allowed:
                unknown = set(request.query_params) - allowed
                if unknown:
                    with sb.lock:
                        sb.ignored_params.update(unknown)  # Pipedrive ignores them silently
            try:
                status, body = await handler(request)
            except ApiError as exc:
                return JSONResponse(
                    error_body(exc.message, exc.code), status_code=exc.status, headers=headers
                )
            return JSONResponse(body, status_code=status, headers=headers)

        return run

    def _headers(self, verdict: WindowVerdict) -> dict[str, str]:
        reset = (
            str(max(1, math.ceil(verdict.reset_s)))
            if self.sb.time_scale == 1
            else f"{max(verdict.reset_s, 0.001):.3f}"
        )
        return {
            "x-ratelimit-limit": str(verdict.limit),
            "x-ratelimit-remaining": str(verdict.remaining),
            "x-ratelimit-reset": reset,
            "x-daily-requests-left": str(max(0, DAILY_WRITE_REQUESTS - self.sb.writes_today)),
        }

    async def not_found(self, request: Request) -> tuple[int, dict[str, Any]]:
        raise ApiError(404, f"Unknown method {request.method} {request.url.path}")


def build_app(sandbox: PipedriveSandbox) -> Starlette:
    api = SandboxApi(sandbox)
    read, write = ReadHandlers(sandbox), WriteHandlers(sandbox)
    leads, handoff = LeadHandlers(sandbox), HandoffWrites(sandbox)
    lead_params = frozenset(
        {
            "limit",
            "start",
            "owner_id",
            "person_id",
            "organization_id",
            "filter_id",
            "sort",
            "updated_since",
            "api_token",
        }
    )
    person_params = LIST_PARAMS | {"org_id", "deal_id"}
    activity_params = LIST_PARAMS | {"deal_id", "lead_id", "person_id", "org_id", "done"}
    deal_params = LIST_PARAMS | {"person_id", "org_id", "pipeline_id", "stage_id", "status"}
    search_params = frozenset(
        {
            "term",
            "fields",
            "exact_match",
            "organization_id",
            "include_fields",
            "limit",
            "cursor",
            "api_token",
        }
    )
    field_params = frozenset({"include_fields", "limit", "cursor", "api_token"})
    e = api.endpoint
    routes = [
        Route("/api/v1/users/me", e("GET /api/v1/users/me", 2, read.users_me), methods=["GET"]),
        Route(
            "/api/v2/persons/search",
            e(
                "GET /api/v2/persons/search",
                20,
                read.search_persons,
                allowed=search_params,
                search=True,
            ),
            methods=["GET"],
        ),
        Route(
            "/api/v2/persons",
            e("GET /api/v2/persons", 10, read.list_persons, allowed=person_params),
            methods=["GET"],
        ),
        Route(
            "/api/v2/persons",
            e("POST /api/v2/persons", 5, write.create_person, write=True),
            methods=["POST"],
        ),
        Route(
            "/api/v2/persons/{id:int}",
            e("GET /api/v2/persons/{id}", 1, read.get_person),
            methods=["GET"],
        ),
        Route(
            "/api/v2/persons/{id:int}",
            e("PATCH /api/v2/persons/{id}", 5, write.update_person, write=True),
            methods=["PATCH"],
        ),
        Route(
            "/api/v2/activities",
            e("GET /api/v2/activities", 10, read.list_activities, allowed=activity_params),
            methods=["GET"],
        ),
        Route(
            "/api/v2/deals",
            e("GET /api/v2/deals", 10, read.list_deals, allowed=deal_params),
            methods=["GET"],
        ),
        Route(
            "/api/v2/personFields",
            e("GET /api/v2/personFields", 10, read.field_lister("person"), allowed=field_params),
            methods=["GET"],
        ),
        Route(
            "/api/v2/personFields",
            e("POST /api/v2/personFields", 5, write.create_person_field, write=True),
            methods=["POST"],
        ),
        Route(
            "/api/v2/personFields/{field_code}/options",
            e(
                "POST /api/v2/personFields/{code}/options",
                5,
                write.add_person_field_options,
                write=True,
            ),
            methods=["POST"],
        ),
        Route(
            "/api/v2/dealFields",
            e("GET /api/v2/dealFields", 10, read.field_lister("deal"), allowed=field_params),
            methods=["GET"],
        ),
        Route(
            "/api/v2/deals",
            e("POST /api/v2/deals", 5, handoff.create_deal, write=True),
            methods=["POST"],
        ),
        Route(
            "/api/v2/activities",
            e("POST /api/v2/activities", 5, handoff.create_activity, write=True),
            methods=["POST"],
        ),
        Route(
            "/api/v2/dealFields",
            e("POST /api/v2/dealFields", 5, handoff.create_deal_field, write=True),
            methods=["POST"],
        ),
        Route(
            "/api/v1/leads",
            e("GET /api/v1/leads", 20, leads.list_leads, allowed=lead_params),
            methods=["GET"],
        ),
        Route(
            "/api/v1/leads",
            e("POST /api/v1/leads", 10, leads.create_lead, write=True),
            methods=["POST"],
        ),
        Route(
            "/api/v1/leads/archived",
            e("GET /api/v1/leads/archived", 40, leads.list_archived, allowed=lead_params),
            methods=["GET"],
        ),
        Route(
            "/api/v1/leads/{id}",
            e("GET /api/v1/leads/{id}", 2, leads.get_lead),
            methods=["GET"],
        ),
        Route(
            "/api/v1/leadLabels",
            e("GET /api/v1/leadLabels", 10, leads.list_labels),
            methods=["GET"],
        ),
        # Cost of GET /v1/users not confirmed from the reference; priced like a v1 list.
        Route("/api/v1/users", e("GET /api/v1/users", 10, leads.list_users), methods=["GET"]),
        Route("/{path:path}", e("unknown", 0, api.not_found)),
    ]
    return Starlette(routes=routes)
