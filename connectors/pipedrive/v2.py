"""Pipedrive API v2 conventions shared by pull, push and field handling.

Envelope: ``{"success": true, "data": ..., "additional_data": {"next_cursor": ...}}``; list
endpoints page with ``cursor`` + ``limit`` (at most 500, default 100) and return ``next_cursor``
null on the last page (https://pipedrive.readme.io/docs/core-api-concepts-pagination).
Timestamps are RFC 3339 (https://pipedrive.readme.io/docs/pipedrive-api-v2-migration-guide).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from smarketing_sync import ContractError, Http, get_path

MAX_LIMIT = 500
NEXT_CURSOR = "additional_data.next_cursor"


def rfc3339(moment: datetime) -> str:
    """UTC, whole seconds, ``Z``: the format of ``updated_since``; flooring keeps it inclusive."""
    if moment.tzinfo is None:
        raise ValueError("timestamps sent to Pipedrive must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def data_of(http: Http, path: str, body: Any, *, kind: type = dict) -> Any:
    """``body["data"]`` of a successful v2 answer, checked against the expected type."""
    if not isinstance(body, Mapping) or body.get("success") is False:
        raise ContractError(f"{http.connector}: {path} answered without a success envelope")
    data = body.get("data")
    if data is None and kind is list:
        return []
    if not isinstance(data, kind):
        raise ContractError(
            f"{http.connector}: {path} answered 'data' of type {type(data).__name__}, "
            f"expected {kind.__name__}"
        )
    return data


async def pages(
    http: Http, path: str, params: Mapping[str, Any]
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every page of a cursor-paginated v2 list; a cursor that repeats raises, never loops."""
    query = dict(params)
    query.setdefault("limit", MAX_LIMIT)
    seen: set[str] = set()
    while True:
        response = await http.get(path, params=query)
        body = await http.json(response)
        records = data_of(http, path, body, kind=list)
        yield records
        cursor = get_path(body, NEXT_CURSOR)
        if not cursor:
            return
        if not isinstance(cursor, str) or cursor in seen:
            raise ContractError(
                f"{http.connector}: {path} repeated page cursor {cursor!r}; stopping instead of "
                "looping"
            )
        seen.add(cursor)
        query["cursor"] = cursor
