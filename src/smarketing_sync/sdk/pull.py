"""Generic pagination for connectors whose API fits a declared Endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from smarketing_sync.errors import ContractError
from smarketing_sync.sdk.declarations import CursorToken, Endpoint, Offset
from smarketing_sync.sdk.http import Http
from smarketing_sync.sdk.paths import get_path
from smarketing_sync.sdk.records import Page

MAX_PAGES = 1_000_000


async def generic_pull(
    http: Http, endpoint: Endpoint, since: datetime | None, since_format: str = "iso"
) -> AsyncIterator[Page]:
    """Page through ``endpoint``; a token that repeats raises instead of looping forever."""
    params: dict[str, Any] = {}
    if since is not None and endpoint.since_param:
        params[endpoint.since_param] = (
            since.isoformat() if since_format == "iso" else str(int(since.timestamp() * 1000))
        )
    paginate = endpoint.paginate
    seen_tokens: set[str] = set()
    offset = 0
    for _ in range(MAX_PAGES):
        if isinstance(paginate, Offset):
            params[paginate.limit_param] = paginate.limit
            params[paginate.offset_param] = offset
        elif isinstance(paginate, CursorToken):
            params[paginate.limit_param] = paginate.limit
        response = await http.request(endpoint.method, endpoint.path, params=params)
        body = await http.json(response)
        records = get_path(body, endpoint.records)
        if records is None:
            records = []
        if not isinstance(records, list):
            raise ContractError(
                f"{http.connector}: {endpoint.path} answered with {endpoint.records!r} "
                f"of type {type(records).__name__}, expected a list"
            )
        yield Page(records)
        if isinstance(paginate, Offset):
            if len(records) < paginate.limit:
                return
            offset += len(records)
        elif isinstance(paginate, CursorToken):
            token = get_path(body, paginate.token_path)
            if not token:
                return
            if str(token) in seen_tokens:
                raise ContractError(
                    f"{http.connector}: {endpoint.path} repeated page token {token!r}; "
                    "stopping instead of looping"
                )
            seen_tokens.add(str(token))
            params[paginate.token_param] = token
        else:
            return
