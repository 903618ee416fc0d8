"""Quill CRM: the example connector of a made-up vendor (see ../README.md for its API)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import SecretStr

from smarketing_sync import (
    Capability,
    ConfigError,
    ConnectorSettings,
    Cursor,
    CursorToken,
    Endpoint,
    FieldSpec,
    FieldUpdate,
    Http,
    Limit,
    Offset,
    PushOutcome,
    PushResult,
    RateLimit,
    RecordError,
)

UPDATE_PATH = "/contacts/batch"
UPSERT_PATH = "/contacts/batch_upsert"
FIELDS_PATH = "/fields"
BATCH_LIMIT = 50  # inputs per batch request (reference: "up to 50 contacts")
PAGE_LIMIT = 100  # records per page (reference: limit 1..100)
RETRYABLE_ERRORS = frozenset({"locked"})  # reference: "locked" means "try again later"

CONTACT_FIELDS = frozenset(
    {
        "id",
        "email",
        "first_name",
        "last_name",
        "company.name",
        "phone",
        "archived",
        "updated_at",
        "custom.*",
    }
)
ACTIVITY_FIELDS = frozenset({"id", "kind", "subject", "contact_id", "occurred_at", "updated_at"})


class QuillSettings(ConnectorSettings):
    """The account's subdomain and an API key (sent as a Bearer token)."""

    account: str
    api_key: SecretStr


class Quill:
    """Quill CRM, a made-up vendor: contacts and activities in, custom fields out.

    Reference: tests/connectors/example_connector/README.md (the made-up vendor's API).
    Pulls use ``generic_pull`` (there is no ``pull`` method): the declared endpoints say all.
    """

    name: ClassVar[str] = "quill"
    settings: ClassVar[type[ConnectorSettings]] = QuillSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.PULL_CONTACTS,
            Capability.PULL_ACTIVITIES,
            Capability.PUSH_FIELDS,
            Capability.CREATE_FIELDS,
        }
    )
    base_url: ClassVar[str] = "https://{account}.quill.example/api/v1"
    check_path: ClassVar[str] = "/me"
    streams: ClassVar[Mapping[str, Endpoint]] = {
        "contacts": Endpoint(
            path="/contacts",
            kind="contact",
            records="data",
            paginate=CursorToken(limit=PAGE_LIMIT, token_path="meta.next_cursor"),
            cursor=Cursor("updated_at", sorted=True),
            since_param="updated_since",
            fields=CONTACT_FIELDS,
        ),
        "activities": Endpoint(
            path="/activities",
            kind="activity",
            records="data",
            paginate=Offset(limit=PAGE_LIMIT),
            cursor=Cursor("updated_at"),
            since_param="updated_since",
            fields=ACTIVITY_FIELDS,
        ),
    }
    rate_limit: ClassVar[RateLimit] = RateLimit(
        limits=(Limit(120, 60.0),),
        remaining_header="X-RateLimit-Remaining",
        reset_header="X-RateLimit-Reset",
    )
    push_batch_size: ClassVar[int] = BATCH_LIMIT

    def headers(self, settings: Any) -> Mapping[str, str]:
        if not isinstance(settings, QuillSettings):
            raise ConfigError("quill: settings must be QuillSettings")
        return {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}

    async def push(self, http: Http, updates: Sequence[FieldUpdate]) -> PushResult:
        """Updates by id in one batch, creates through the email upsert (safe to re-send)."""
        by_id = [u for u in updates if u.external_id]
        creates = [u for u in updates if not u.external_id]
        outcomes: list[PushOutcome] = []
        if by_id:
            body = [{"id": u.external_id, "custom": dict(u.values)} for u in by_id]
            outcomes += await _send(http, "PATCH", UPDATE_PATH, by_id, body)
        if creates:
            body = [{"email": u.email, "custom": dict(u.values)} for u in creates]
            outcomes += await _send(http, "POST", UPSERT_PATH, creates, body)
        return PushResult(outcomes)

    async def ensure_fields(self, http: Http, fields: Sequence[FieldSpec]) -> list[str]:
        """Create the custom fields that ``GET /fields`` does not list."""
        listed: dict[str, Any] = await http.json(await http.get(FIELDS_PATH))
        existing = {str(f.get("name")) for f in listed.get("data", []) if isinstance(f, dict)}
        created = []
        for spec in fields:
            if spec.name in existing:
                continue
            body: dict[str, Any] = {"name": spec.name, "label": spec.label, "type": spec.type}
            if spec.options:
                body["options"] = list(spec.options)
            await http.post(FIELDS_PATH, json=body)
            created.append(spec.name)
        return created


async def _send(
    http: Http, method: str, path: str, updates: Sequence[FieldUpdate], body: list[Any]
) -> list[PushOutcome]:
    """One batch request; a refusal of the whole request fails exactly its updates."""
    try:
        response = await http.request(method, path, json={"contacts": body})
    except RecordError as exc:
        return PushResult.all_failed(updates, str(exc)).outcomes
    answer: dict[str, Any] = await http.json(response)
    results = {r.get("index"): r for r in answer.get("results", []) if isinstance(r, dict)}
    outcomes = []
    for index, update in enumerate(updates):
        result = results.get(index)
        if result is None:
            outcomes.append(
                PushOutcome(update.key, False, update.external_id, "no result for this input")
            )
        elif result.get("status") in ("ok", "created"):
            outcomes.append(PushOutcome(update.key, True, str(result.get("id"))))
        else:
            code = str(result.get("error", "error"))
            reason = f"{code}: {result.get('message', '')}".strip()
            outcomes.append(
                PushOutcome(update.key, False, update.external_id, reason, code in RETRYABLE_ERRORS)
            )
    return outcomes
