"""Query and body parsing shared by the Pipedrive sandbox's handlers."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request

from .sandbox_state import PageRequest, parse_rfc3339, validation_error

Handler = Callable[[Request], Awaitable[tuple[int, dict[str, Any]]]]
ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
MAX_LIMIT = 500  # "Please note that a maximum value of 500 is allowed." (every v2 list endpoint)
LIST_PARAMS = frozenset(
    {
        "filter_id",
        "ids",
        "owner_id",
        "updated_since",
        "updated_until",
        "sort_by",
        "sort_direction",
        "include_fields",
        "custom_fields",
        "limit",
        "cursor",
        "api_token",
    }
)


def error_body(message: str, code: str | None = None) -> dict[str, Any]:
    """Pipedrive's error schema (https://pipedrive.readme.io/docs/core-api-concepts-responses)."""
    body: dict[str, Any] = {
        "success": False,
        "error": message,
        "error_info": ERROR_INFO,
        "data": None,
        "additional_data": None,
    }
    if code:
        body["code"] = code
    return body


def offset_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def read_offset_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(value["offset"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise validation_error("cursor: Parameter 'cursor' is not a valid cursor") from None


def parse_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return 100  # "If not provided, 100 items will be returned."
    try:
        limit = int(raw)
    except ValueError:
        raise validation_error("limit: Parameter 'limit' must be an integer") from None
    if limit < 1 or limit > MAX_LIMIT:
        raise validation_error(f"limit: Parameter 'limit' must be between 1 and {MAX_LIMIT}")
    return limit


def int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise validation_error(f"{name}: Parameter '{name}' must be an integer") from None


def page_request(request: Request, sort_fields: tuple[str, ...]) -> PageRequest:
    params = request.query_params
    sort_by = params.get("sort_by", "id")
    if sort_by not in sort_fields:
        raise validation_error(
            f"sort_by: Parameter 'sort_by' must be one of {', '.join(sort_fields)}"
        )
    direction = params.get("sort_direction", "asc")
    if direction not in ("asc", "desc"):
        raise validation_error("sort_direction: Parameter 'sort_direction' must be asc or desc")
    since, until = params.get("updated_since"), params.get("updated_until")
    return PageRequest(
        limit=parse_limit(request),
        sort_by=sort_by,  # type: ignore[arg-type]
        direction=direction,  # type: ignore[arg-type]
        cursor=params.get("cursor"),
        since=parse_rfc3339(since, "updated_since") if since is not None else None,
        until=parse_rfc3339(until, "updated_until") if until is not None else None,
    )


def custom_filter(request: Request) -> set[str] | None:
    raw = request.query_params.get("custom_fields")
    if raw is None:
        return None
    codes = {c.strip() for c in raw.split(",") if c.strip()}
    if len(codes) > 15:
        raise validation_error("custom_fields: A maximum of 15 keys is allowed")
    return codes


def ids_filter(request: Request) -> set[int] | None:
    raw = request.query_params.get("ids")
    if raw is None:
        return None
    try:
        ids = {int(v) for v in raw.split(",") if v.strip()}
    except ValueError:
        raise validation_error("ids: Parameter 'ids' must be comma separated numbers") from None
    if len(ids) > 100:
        raise validation_error("ids: Up to 100 ids are allowed")
    return ids


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except ValueError:
        raise validation_error("body: Request body is not valid JSON") from None
