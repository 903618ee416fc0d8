"""Writing contact properties back: batch update by id, batch upsert by email for creates.

- ``POST /crm/v3/objects/contacts/batch/update`` with ``{"inputs": [{"id", "properties"}]}``
  (at most 100 inputs; an empty string clears a property).
- ``POST /crm/v3/objects/contacts/batch/upsert`` with ``idProperty: "email"`` creates the people
  who are missing and updates those who already exist, so a re-send after a lost answer never
  creates a duplicate (CRM objects guide, "Upsert records":
  https://developers.hubspot.com/docs/api-reference/latest/crm/objects/guide).

Every input carries ``objectWriteTraceId`` = the update's key. HubSpot then answers 207
Multi-Status with one ``errors[]`` entry per rejected input whose ``context.objectWriteTraceId``
names it (https://developers.hubspot.com/docs/api-reference/error-handling#multi-status-errors);
results and errors are matched back by trace id, then by record id or email. Where HubSpot
instead rejects the whole batch with one 400 (the guide says partial upserts are not supported
with ``idProperty: "email"``), the batch is split in halves until the bad input stands alone, so
one bad record never fails the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smarketing_sync import FieldUpdate, Http, PushOutcome, PushResult, RecordError

UPDATE_PATH = "/crm/v3/objects/contacts/batch/update"
UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"

#: Error categories that say "later", not "never".
_TRANSIENT_CATEGORIES = frozenset({"RATE_LIMITS", "LOCKED"})
#: A whole-batch "Property values were not valid" names each missing property like this.
_MISSING_PROPERTY = re.compile(
    r'"error"\s*:\s*"PROPERTY_DOESNT_EXIST"\s*,\s*"name"\s*:\s*"([^"]+)"'
)


@dataclass(frozen=True, slots=True)
class _Input:
    update: FieldUpdate
    payload: dict[str, Any]


def property_value(value: Any) -> str:
    """A customer value as the string HubSpot stores; None clears the property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _properties(values: Mapping[str, Any]) -> dict[str, str]:
    return {name: property_value(value) for name, value in values.items()}


async def push_contacts(http: Http, updates: Sequence[FieldUpdate]) -> PushResult:
    """Send at most one update and one upsert batch; answer for every update."""
    outcomes: dict[str, PushOutcome] = {}
    by_id = [
        _Input(
            u,
            {
                "id": u.external_id,
                "properties": _properties(u.values),
                "objectWriteTraceId": u.key,
            },
        )
        for u in updates
        if u.external_id
    ]
    creates: list[_Input] = []
    emails: set[str] = set()
    for u in updates:
        if u.external_id:
            continue
        email = (u.email or "").strip().lower()
        if not email:
            outcomes[u.key] = PushOutcome(u.key, False, error="no email to create the contact with")
            continue
        if email in emails:
            # HubSpot rejects a batch that names one id twice; the second waits for the next batch.
            outcomes[u.key] = PushOutcome(
                u.key, False, error=f"{email} is created by another update", retryable=True
            )
            continue
        emails.add(email)
        payload = {
            "id": email,
            "idProperty": "email",
            "properties": _properties(u.values),
            "objectWriteTraceId": u.key,
        }
        creates.append(_Input(u, payload))
    if by_id:
        outcomes.update(await _send(http, UPDATE_PATH, by_id))
    if creates:
        outcomes.update(await _send(http, UPSERT_PATH, creates))
    return PushResult([outcomes[u.key] for u in updates])


async def _send(http: Http, path: str, batch: Sequence[_Input]) -> dict[str, PushOutcome]:
    try:
        response = await http.post(path, json={"inputs": [item.payload for item in batch]})
    except RecordError as exc:
        return await _isolate(http, path, batch, exc)
    return _read_batch(batch, await http.json(response))


async def _isolate(
    http: Http, path: str, batch: Sequence[_Input], exc: RecordError
) -> dict[str, PushOutcome]:
    """The whole batch was refused: find the inputs that caused it, send the others again."""
    reason = str(exc)
    if len(batch) == 1:
        return {batch[0].update.key: _failed(batch[0], reason)}
    missing = set(_MISSING_PROPERTY.findall(reason))
    if missing:
        doomed = [item for item in batch if missing & set(item.payload["properties"])]
        if doomed:
            outcomes = {item.update.key: _failed(item, reason) for item in doomed}
            rest = [item for item in batch if item not in doomed]
            if rest:
                outcomes.update(await _send(http, path, rest))
            return outcomes
    middle = len(batch) // 2
    outcomes = await _send(http, path, batch[:middle])
    outcomes.update(await _send(http, path, batch[middle:]))
    return outcomes


def _failed(item: _Input, reason: str, *, retryable: bool = False) -> PushOutcome:
    u = item.update
    return PushOutcome(u.key, False, u.external_id, reason, retryable)


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        return str(value[0]) if value else None
    return None if value is None else str(value)


def _read_batch(batch: Sequence[_Input], body: Any) -> dict[str, PushOutcome]:
    by_key = {item.update.key: item for item in batch}
    by_id = {str(item.payload["id"]).lower(): item for item in batch}
    outcomes: dict[str, PushOutcome] = {}
    data = body if isinstance(body, dict) else {}

    def match(trace: str | None, record_id: str | None, email: str | None) -> _Input | None:
        for candidate in (
            by_key.get(trace or ""),
            by_id.get((record_id or "").lower()),
            by_id.get((email or "").strip().lower()),
        ):
            if candidate is not None and candidate.update.key not in outcomes:
                return candidate
        return None

    for result in data.get("results") or []:
        properties = result.get("properties") or {}
        item = match(
            result.get("objectWriteTraceId"), str(result.get("id")), properties.get("email")
        )
        if item is not None:
            outcomes[item.update.key] = PushOutcome(item.update.key, True, str(result.get("id")))
    for error in data.get("errors") or []:
        context = error.get("context") or {}
        item = match(
            _first(context.get("objectWriteTraceId")),
            _first(context.get("ids")) or _first(context.get("id")),
            _first(context.get("email")),
        )
        if item is None:
            continue
        category = str(error.get("category") or "ERROR")
        reason = f"{category}: {error.get('message') or 'rejected without a message'}"
        outcomes[item.update.key] = _failed(
            item, reason, retryable=category in _TRANSIENT_CATEGORIES
        )
    for item in batch:
        if item.update.key not in outcomes:
            # Neither a result nor an error: the write may or may not have landed. Both
            # endpoints are idempotent for the same values, so sending it again is safe.
            outcomes[item.update.key] = _failed(
                item, "HubSpot answered without a result for this input", retryable=True
            )
    return outcomes
