"""Deliberately broken variants of the Quill connector: each breaks one rule the kit checks.

``tests/connectors/test_kit_selfcheck.py`` runs the kit on them and expects the matching check to
fail; they are never used as connectors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from smarketing_sync import (
    Capability,
    ConnectorSettings,
    FieldUpdate,
    Http,
    Page,
    PushResult,
    SyncError,
)
from smarketing_sync.registry import load_connector

Quill: Any = load_connector("quill", [Path(__file__).parent])


class LoopingQuill(Quill):  # type: ignore[misc]  # Quill is loaded at run time
    """Follows next_cursor without remembering it: loops when the vendor repeats a page."""

    async def pull(self, http: Http, stream: str, since: datetime | None) -> AsyncIterator[Page]:
        endpoint = self.streams[stream]
        params: dict[str, Any] = {"limit": 100}
        if since is not None:
            params["updated_since"] = since.isoformat()
        while True:
            body = await http.json(await http.get(endpoint.path, params=params))
            yield Page(body["data"])
            token = (body.get("meta") or {}).get("next_cursor")
            if not token:
                return
            params["cursor"] = token


class SwallowingQuill(Quill):  # type: ignore[misc]  # Quill is loaded at run time
    """Hides vendor outages: an empty pull instead of an error."""

    async def pull(self, http: Http, stream: str, since: datetime | None) -> AsyncIterator[Page]:
        try:
            response = await http.get(self.streams[stream].path, params={"limit": 100})
        except SyncError:
            return
        yield Page((await http.json(response))["data"])


class ExclusiveQuill(Quill):  # type: ignore[misc]  # Quill is loaded at run time
    """Drops records modified exactly at ``since``: loses the boundary on every rerun."""

    async def pull(self, http: Http, stream: str, since: datetime | None) -> AsyncIterator[Page]:
        endpoint = self.streams[stream]
        params: dict[str, Any] = {"limit": 100}
        if since is not None:
            params["updated_since"] = since.isoformat()
        while True:
            body = await http.json(await http.get(endpoint.path, params=params))
            records = body["data"]
            if since is not None:
                records = [
                    r
                    for r in records
                    if datetime.fromisoformat(r["updated_at"].replace("Z", "+00:00")) > since
                ]
            yield Page(records)
            token = (body.get("meta") or {}).get("next_cursor")
            if not token or stream != "contacts":
                return
            params["cursor"] = token


class RaisingQuill(Quill):  # type: ignore[misc]  # Quill is loaded at run time
    """Lets a per-record 4xx escape from push() instead of answering a failed outcome."""

    async def push(self, http: Http, updates: Sequence[FieldUpdate]) -> PushResult:
        for update in updates:
            if update.external_id:
                await http.patch("/contacts/batch", json={"contacts": [{"id": update.external_id}]})
        return PushResult([])


class ForgetfulQuill(Quill):  # type: ignore[misc]  # Quill is loaded at run time
    """Answers for fewer updates than it was given."""

    async def push(self, http: Http, updates: Sequence[FieldUpdate]) -> PushResult:
        result: PushResult = await super().push(http, updates)
        return PushResult(result.outcomes[:-1])


class PlainSettings(ConnectorSettings):
    account: str
    api_key: str


class PlainKeyQuill(Quill):  # type: ignore[misc]  # Quill is loaded at run time
    settings = PlainSettings

    def headers(self, settings: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {settings.api_key}"}


class AnonymousQuill(Quill):  # type: ignore[misc]  # Quill is loaded at run time
    def headers(self, settings: Any) -> dict[str, str]:
        return {}


class UndeclaredFieldsQuill(Quill):  # type: ignore[misc]  # Quill is loaded at run time
    capabilities = frozenset(set(Quill.capabilities) - {Capability.CREATE_FIELDS})
