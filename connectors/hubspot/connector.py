"""The HubSpot connector: contacts and activities in, contact properties out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from pydantic import SecretStr

from smarketing_sync import (
    Capability,
    ConfigError,
    ConnectorSettings,
    Endpoint,
    FieldSpec,
    FieldUpdate,
    HandoffCreated,
    HandoffFacts,
    HandoffRef,
    HandoffRequest,
    Http,
    Limit,
    Page,
    PushResult,
    RateLimit,
    SyncError,
    TransientError,
)

from .associations import contacts_of
from .handoff import create_handoffs, read_handoffs
from .properties import ensure_properties
from .push import push_contacts
from .search import SearchReader
from .streams import ASSOCIATIONS_BATCH_LIMIT, BATCH_LIMIT, OBJECTS, SEARCH_PAGE_SIZE, STREAMS


class HubSpotSettings(ConnectorSettings):
    """A private app's access token (legacy private app or service key), sent as Bearer."""

    access_token: SecretStr


class HubSpot:
    """HubSpot CRM: contacts and engagements through CRM search, properties pushed in batches.

    Reference: https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/guide
    (search: https://developers.hubspot.com/docs/api-reference/search/guide, limits:
    https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines).
    """

    name: ClassVar[str] = "hubspot"
    settings: ClassVar[type[ConnectorSettings]] = HubSpotSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.PULL_CONTACTS,
            Capability.PULL_ACTIVITIES,
            Capability.PUSH_FIELDS,
            Capability.CREATE_FIELDS,
            Capability.HANDOFF,
        }
    )
    #: Default hand-off rules ([[handoff.states]] overrides them): the contact's lead status
    #: (hs_lead_status, default options) is how HubSpot sellers answer a hand-off; SQL and
    #: beyond follow from the lifecycle (docs/handoff.md).
    handoff_rules: ClassVar[tuple[dict[str, Any], ...]] = (
        {
            "state": "accepted",
            "when": {
                "contact.lead_status": ["OPEN", "IN_PROGRESS", "ATTEMPTED_TO_CONTACT", "CONNECTED"]
            },
        },
        {
            "state": "rejected",
            "when": {"contact.lead_status": ["UNQUALIFIED", "BAD_TIMING"]},
            "reason": "contact.lead_status",
        },
    )
    base_url: ClassVar[str] = "https://api.hubapi.com"
    streams: ClassVar[Mapping[str, Endpoint]] = STREAMS
    check_path: ClassVar[str] = "/crm/v3/objects/contacts?limit=1"
    push_batch_size: ClassVar[int] = BATCH_LIMIT
    # Privately distributed apps on Free/Starter, the lowest tier: 100 requests per 10 s and
    # 250,000 a day; search is separately held to 5 per second per account. The search
    # endpoints are exempt from the ten-secondly limit (x-hubspot-rate-limit-exemptions in the
    # OpenAPI specs) but counting them there too costs nothing: 5/s is 50 per 10 s. Answers
    # other than search carry X-HubSpot-RateLimit-Max, -Remaining, -Interval-Milliseconds,
    # -Daily and -Daily-Remaining; search answers carry none, so for search the proactive
    # limiter is all there is.
    rate_limit: ClassVar[RateLimit] = RateLimit(
        limits=(Limit(100, 10.0), Limit(5, 1.0, match="/search")),
        remaining_header="X-HubSpot-RateLimit-Remaining",
        reset_header=None,  # HubSpot sends the window length, not the time until it resets
        daily_limit=250_000,
    )
    # 423 Locked ("include a delay of at least 2 seconds") and 477 Migration in Progress are
    # temporary by HubSpot's error-handling guide
    # (https://developers.hubspot.com/docs/api-reference/error-handling).
    error_overrides: ClassVar[Mapping[int, type[SyncError]]] = {
        423: TransientError,
        477: TransientError,
    }

    def headers(self, settings: Any) -> Mapping[str, str]:
        if not isinstance(settings, HubSpotSettings):
            raise ConfigError("hubspot: settings must be HubSpotSettings")
        return {"Authorization": f"Bearer {settings.access_token.get_secret_value()}"}

    async def pull(self, http: Http, stream: str, since: datetime | None) -> AsyncIterator[Page]:
        """Pages of ``stream`` modified at or after ``since``; activities carry contact ids."""
        spec = OBJECTS.get(stream)
        if spec is None:
            raise ConfigError(f"hubspot has no stream {stream!r}", expected=", ".join(OBJECTS))
        pages = SearchReader(http, spec, since).pages()
        if spec.kind == "contact":
            async for records in pages:
                yield Page(records)
            return
        # Associations are read for several search pages at once: one batch read takes up to
        # 1,000 ids, five pages' worth, so the API calls stay at their minimum.
        buffered: list[list[dict[str, Any]]] = []
        count = 0
        async for records in pages:
            buffered.append(records)
            count += len(records)
            if count + SEARCH_PAGE_SIZE > ASSOCIATIONS_BATCH_LIMIT:
                for page in await _with_contacts(http, spec.object_type, buffered):
                    yield page
                buffered, count = [], 0
        if buffered:
            for page in await _with_contacts(http, spec.object_type, buffered):
                yield page

    def page_size(self, stream: str) -> int:
        """Records one API call moves at best (the benchmarks' minimum-calls bar reads this).

        A contact search page holds 200. An activity also needs its associations: one batch
        read serves 1,000 ids, five search pages, so six calls move 1,000 activities at best.
        """
        if OBJECTS[stream].kind == "contact":
            return SEARCH_PAGE_SIZE
        pages_per_read = ASSOCIATIONS_BATCH_LIMIT // SEARCH_PAGE_SIZE
        return ASSOCIATIONS_BATCH_LIMIT // (pages_per_read + 1)

    async def push(self, http: Http, updates: Sequence[FieldUpdate]) -> PushResult:
        """Write property values; creates go through the email upsert, so re-sends are safe."""
        return await push_contacts(http, updates)

    async def ensure_fields(self, http: Http, fields: Sequence[FieldSpec]) -> list[str]:
        """Create the missing ``smarketing_*`` properties in the ``smarketing_sync`` group."""
        return await ensure_properties(http, fields)

    async def create_handoffs(
        self, http: Http, requests: Sequence[HandoffRequest]
    ) -> list[HandoffCreated]:
        """A follow-up task per hand-off, on its contact; never two for one key (handoff.py)."""
        return await create_handoffs(http, requests)

    async def read_handoffs(self, http: Http, refs: Sequence[HandoffRef]) -> list[HandoffFacts]:
        """The task's and the contact's current state as flat facts (handoff_read.py)."""
        return await read_handoffs(http, refs)


async def _with_contacts(
    http: Http, object_type: str, pages: Sequence[Sequence[dict[str, Any]]]
) -> list[Page]:
    ids = [str(record["id"]) for records in pages for record in records]
    contacts = await contacts_of(http, object_type, ids)
    return [
        Page(
            [
                {**record, "associations": {"contacts": contacts[str(record["id"])]}}
                for record in records
            ]
        )
        for records in pages
    ]
