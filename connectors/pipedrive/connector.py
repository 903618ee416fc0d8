"""The Pipedrive connector: persons, activities and deals in; person fields out."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Literal
from weakref import WeakKeyDictionary

from pydantic import Field, SecretStr, field_validator

from smarketing_sync import (
    Capability,
    ConfigError,
    ConnectorSettings,
    ContractError,
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
)

from .fields import DEAL_FIELDS, PERSON_FIELDS, FieldCatalog, FieldDef, load_catalog
from .handoff import HandoffWriter
from .handoff_facts import read_facts
from .push import PersonPusher
from .streams import STREAMS, enrich_activity, enrich_deal, enrich_person
from .v2 import data_of, pages, rfc3339

_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
#: FieldSpec type -> Pipedrive field_type. Pipedrive has no datetime field type: ISO 8601
#: strings go to a text field.
FIELD_TYPES = {
    "string": "varchar",
    "number": "double",
    "datetime": "varchar",
    "enumeration": "enum",
}


#: Person-field catalogs per HTTP client. A client lives for one sync run, so the cache does too.
_CATALOGS: WeakKeyDictionary[Http, FieldCatalog] = WeakKeyDictionary()

#: Burst requests per 2 s and daily-token multiplier by plan (api_token requests).
#: https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting
PLAN_BURST = {"lite": 20, "growth": 40, "premium": 100, "ultimate": 120}
PLAN_MULTIPLIER = {"lite": 1, "growth": 2, "premium": 5, "ultimate": 7}


class PipedriveSettings(ConnectorSettings):
    """``api_token`` goes in the ``x-api-token`` header, never in the query string."""

    api_token: SecretStr
    company_domain: str
    #: The account's plan and seats set the documented burst limit and daily token budget.
    plan: Literal["lite", "growth", "premium", "ultimate"] = "lite"
    seats: int = Field(1, ge=1)

    @field_validator("company_domain")
    @classmethod
    def _subdomain_only(cls, value: str) -> str:
        # It becomes part of the host name: accept the sub-domain label and nothing else.
        domain = value.strip().lower().removesuffix(".pipedrive.com")
        if not _DOMAIN.match(domain):
            raise ValueError(
                "company_domain is the sub-domain of your Pipedrive URL, e.g. 'acme' for "
                "https://acme.pipedrive.com"
            )
        return domain


class Pipedrive:
    """Pipedrive CRM through API v2 (https://developers.pipedrive.com/docs/api/v1).

    Pulls persons, activities and deals incrementally (``updated_since`` + cursor, sorted by
    ``update_time``), resolves hash-keyed custom fields to names, writes person fields one
    request per person and creates the custom person fields it writes. Hand-offs create a
    lead (v1) or deal plus a follow-up activity and read their state back (``handoff.py``).
    """

    name: ClassVar[str] = "pipedrive"
    settings: ClassVar[type[ConnectorSettings]] = PipedriveSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.PULL_CONTACTS,
            Capability.PULL_ACTIVITIES,
            Capability.PULL_DEALS,
            Capability.PUSH_FIELDS,
            Capability.CREATE_FIELDS,
            Capability.HANDOFF,
        }
    )
    #: Default hand-off rules ([[handoff.states]] overrides them). Sellers answer a lead with
    #: a label ("Accepted") or by archiving it, whose labels carry the reason; a converted lead
    #: or an open/won deal is a conversion; a lost deal is a rejection with its lost reason.
    handoff_rules: ClassVar[tuple[dict[str, Any], ...]] = (
        {"state": "accepted", "when": {"lead.label": ["Accepted"]}},
        {"state": "rejected", "when": {"lead.archived": True}, "reason": "lead.label"},
        {"state": "converted", "when": {"lead.converted": True}},
        {"state": "rejected", "when": {"deal.status": "lost"}, "reason": "deal.lost_reason"},
        {"state": "converted", "when": {"deal.status": "won"}},
    )
    base_url: ClassVar[str] = "https://{company_domain}.pipedrive.com"
    streams: ClassVar[Mapping[str, Endpoint]] = STREAMS
    check_path: ClassVar[str] = "/api/v1/users/me"
    # Burst limits per rolling 2-second window, for api_token requests on the smallest plan
    # (Lite: 20; Growth 40, Premium 100, Ultimate 120); the Search API allows 10 on every plan.
    # Daily budget: 30,000 tokens x plan multiplier x seats; 3,000 is Lite with one seat at
    # the 10 tokens of a v2 list call, the most expensive call we make besides search.
    # https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting
    rate_limit: ClassVar[RateLimit] = RateLimit(
        limits=(Limit(20, 2.0), Limit(10, 2.0, match="/search")),
        remaining_header="x-ratelimit-remaining",
        reset_header="x-ratelimit-reset",
        daily_limit=3_000,
    )

    def rate_limit_for(self, settings: PipedriveSettings) -> RateLimit:
        """The declared limits scaled to the account's plan and seats (same reference page)."""
        daily = 30_000 * PLAN_MULTIPLIER[settings.plan] * settings.seats // 10
        return RateLimit(
            limits=(Limit(PLAN_BURST[settings.plan], 2.0), Limit(10, 2.0, match="/search")),
            remaining_header=self.rate_limit.remaining_header,
            reset_header=self.rate_limit.reset_header,
            daily_limit=daily,
        )

    # Updates handed to one push(): each is its own request, so this bounds a batch's time,
    # not a payload size.
    push_batch_size: ClassVar[int] = 50
    #: Pipedrive has no batch write: every update is its own request.
    push_records_per_request: ClassVar[int] = 1
    # 402: "Company account is not open (possible reason: trial expired, payment details not
    # entered)" (https://pipedrive.readme.io/docs/core-api-concepts-http-status-codes).
    error_overrides: ClassVar[Mapping[int, type[SyncError]]] = {402: ConfigError}

    def headers(self, settings: PipedriveSettings) -> dict[str, str]:
        # https://pipedrive.readme.io/docs/core-api-concepts-authentication: "The API token
        # must be provided in the x-api-token header for all requests".
        return {"x-api-token": settings.api_token.get_secret_value(), "Accept": "application/json"}

    async def pull(self, http: Http, stream: str, since: datetime | None) -> AsyncIterator[Page]:
        """Pages of ``stream`` updated at or after ``since``, oldest first.

        Field definitions are read once per call, before the first page.
        """
        endpoint = self.streams[stream]
        enrich: Callable[[Mapping[str, Any]], dict[str, Any]]
        if stream == "persons":
            enrich = partial(enrich_person, catalog=await load_catalog(http, PERSON_FIELDS))
        elif stream == "deals":
            enrich = partial(enrich_deal, catalog=await load_catalog(http, DEAL_FIELDS))
        else:
            enrich = enrich_activity
        params: dict[str, Any] = {"sort_by": "update_time", "sort_direction": "asc"}
        if since is not None:
            params["updated_since"] = rfc3339(since)
        async for records in pages(http, endpoint.path, params):
            if not all(isinstance(r, Mapping) for r in records):
                raise ContractError(
                    f"{http.connector}: {endpoint.path} listed an item that is not an object"
                )
            yield Page([enrich(r) for r in records])

    async def push(self, http: Http, updates: Sequence[FieldUpdate]) -> PushResult:
        """One request per update, a few at a time; every update gets an outcome.

        The person-field catalog is read once per client (one sync run), not once per batch:
        a run of 10,000 writes would otherwise spend 200 extra calls on it.
        """
        catalog = _CATALOGS.get(http)
        if catalog is None:
            catalog = _CATALOGS[http] = await load_catalog(http, PERSON_FIELDS)
        return await PersonPusher(http).push(updates, catalog)

    async def create_handoffs(
        self, http: Http, requests: Sequence[HandoffRequest]
    ) -> list[HandoffCreated]:
        """A lead or deal plus a follow-up activity per request, never twice for one key."""
        return await HandoffWriter(http).create(requests)

    async def read_handoffs(self, http: Http, refs: Sequence[HandoffRef]) -> list[HandoffFacts]:
        """The current facts of each created hand-off (see ``handoff_facts.py`` for the keys)."""
        return await read_facts(http, refs)

    async def ensure_fields(self, http: Http, fields: Sequence[FieldSpec]) -> list[str]:
        """Create the custom person fields that are missing; add missing enum options.

        Pipedrive fields have one display name, so ``FieldSpec.name`` is used (``label`` only
        when the name is empty). Returns the names of the fields created.
        """
        catalog = await load_catalog(http, PERSON_FIELDS)
        created: list[str] = []
        for spec in fields:
            name = spec.name or spec.label
            existing = catalog.by_name(name)
            if existing is not None:
                await self._add_missing_options(http, existing, spec)
                continue
            if catalog.is_ambiguous(name):
                raise ConfigError(f"Pipedrive has two person fields named {name!r}; rename one")
            body: dict[str, Any] = {"field_name": name, "field_type": FIELD_TYPES[spec.type]}
            if spec.type == "enumeration":
                if not spec.options:
                    raise ConfigError(
                        f"person field {name!r}: an enumeration needs options",
                        key="push.contacts.create",
                    )
                body["options"] = [{"label": option} for option in spec.options]
            answer = await http.json(await http.post(PERSON_FIELDS, json=body))
            data_of(http, PERSON_FIELDS, answer)
            created.append(name)
        _CATALOGS.pop(http, None)  # fields or options changed: the next push reads them again
        return created

    @staticmethod
    async def _add_missing_options(http: Http, existing: FieldDef, spec: FieldSpec) -> None:
        """An existing option field lacking some declared options gets them (atomically)."""
        if spec.type != "enumeration" or existing.type not in ("enum", "set"):
            return
        have = {label.casefold() for label in existing.options.values()}
        missing = [o for o in spec.options if o.casefold() not in have]
        if not missing:
            return
        path = f"{PERSON_FIELDS}/{existing.code}/options"
        _CATALOGS.pop(http, None)
        answer = await http.json(await http.post(path, json=[{"label": o} for o in missing]))
        data_of(http, path, answer, kind=list)
