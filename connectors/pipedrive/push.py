"""Writing person fields to Pipedrive: one request per person, a few in flight at once.

API v2 has no batch update for persons, so each FieldUpdate is a ``PATCH /api/v2/persons/{id}``
or a ``POST /api/v2/persons`` (https://developers.pipedrive.com/docs/api/v1/Persons). Rules
that shape the requests, from the v2 migration guide
(https://pipedrive.readme.io/docs/pipedrive-api-v2-migration-guide):

- a name change needs ``name`` or *both* ``first_name`` and ``last_name``, so a change of only
  one half is completed with the other half read from the person first;
- ``emails``/``phones`` are whole arrays of ``{value, primary, label}``, so the primary entry
  is replaced in the person's current list rather than dropping the other addresses;
- custom fields are written by code inside ``custom_fields`` (see ``fields.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smarketing_sync import (
    AuthError,
    FieldUpdate,
    Http,
    PushOutcome,
    PushResult,
    RecordError,
    TransientError,
)

from .fields import FieldCatalog
from .v2 import data_of

PERSONS = "/api/v2/persons"
SEARCH = "/api/v2/persons/search"
PUSH_CONCURRENCY = 4  # requests in flight per batch; the Http client caps connections too
NAME_KEYS = frozenset({"name", "first_name", "last_name"})
ID_KEYS = frozenset({"owner_id", "org_id", "visible_to"})
_UNSET: Any = object()


@dataclass(slots=True)
class PersonWrite:
    """One FieldUpdate translated to Pipedrive's vocabulary, before any request is made."""

    names: dict[str, Any] = field(default_factory=dict)
    email: Any = _UNSET
    phone: Any = _UNSET
    ids: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def plan(cls, values: Mapping[str, Any], catalog: FieldCatalog) -> PersonWrite:
        """Raises ValueError for a field Pipedrive does not have or a value it cannot take."""
        write = cls()
        for key, value in values.items():
            if key in NAME_KEYS:
                write.names[key] = value
            elif key == "email":
                write.email = value
            elif key == "phone":
                write.phone = value
            elif key in ID_KEYS:
                write.ids[key] = None if value is None else _integer(key, value)
            else:
                definition = catalog.by_name(key)
                if definition is None:
                    if catalog.is_ambiguous(key):
                        raise ValueError(
                            f"two Pipedrive person fields are named {key!r}; rename one of them"
                        )
                    raise ValueError(
                        f"Pipedrive has no person field named {key!r}: declare it in "
                        "[push.contacts.create] or fix the mapping"
                    )
                write.custom[definition.code] = catalog.encode(definition, value)
        return write

    def needs_current(self) -> bool:
        """An update that must read the person first (list fields, half a name)."""
        half_name = ("first_name" in self.names) != ("last_name" in self.names)
        return (
            self.email is not _UNSET
            or self.phone is not _UNSET
            or (half_name and "name" not in self.names)
        )

    def update_body(self, current: Mapping[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = dict(self.ids)
        if self.names.get("name"):
            body["name"] = self.names["name"]
        elif "first_name" in self.names or "last_name" in self.names:
            for key in ("first_name", "last_name"):
                value = self.names.get(key, (current or {}).get(key))
                body[key] = value or ""
        if self.email is not _UNSET:
            body["emails"] = _replace_primary((current or {}).get("emails"), self.email)
        if self.phone is not _UNSET:
            body["phones"] = _replace_primary((current or {}).get("phones"), self.phone)
        if self.custom:
            body["custom_fields"] = dict(self.custom)
        return body

    def create_body(self, email: str) -> dict[str, Any]:
        body: dict[str, Any] = {k: v for k, v in self.ids.items() if v is not None}
        if self.names.get("name"):
            body["name"] = self.names["name"]
        elif self.names.get("first_name") or self.names.get("last_name"):
            body["first_name"] = self.names.get("first_name") or ""
            body["last_name"] = self.names.get("last_name") or ""
        else:
            raise ValueError(
                "Pipedrive needs a name to create a person: map first_name/last_name (or name)"
            )
        body["emails"] = [{"value": email, "primary": True, "label": "work"}]
        if self.phone not in (_UNSET, None, ""):
            body["phones"] = [{"value": self.phone, "primary": True, "label": "work"}]
        custom = {code: value for code, value in self.custom.items() if value is not None}
        if custom:
            body["custom_fields"] = custom
        return body


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{key} takes a Pipedrive id, not {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} takes a Pipedrive id, not {value!r}") from None


def _replace_primary(entries: Any, value: Any) -> list[dict[str, Any]]:
    """The person's emails/phones with the primary entry's value replaced (removed for blank)."""
    current = [
        {
            "value": e.get("value"),
            "primary": bool(e.get("primary")),
            "label": e.get("label", "work"),
        }
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, Mapping) and e.get("value") is not None
    ]
    index = next((i for i, e in enumerate(current) if e["primary"]), 0 if current else None)
    if value is None or (isinstance(value, str) and not value.strip()):
        if index is not None:
            del current[index]
        if current and not any(e["primary"] for e in current):
            current[0]["primary"] = True
        return current
    if index is None:
        return [{"value": value, "primary": True, "label": "work"}]
    current[index] = {**current[index], "value": value, "primary": True}
    return current


class PersonPusher:
    """Sends one push() batch: each update under a semaphore, custom fields coded by ``catalog``."""

    def __init__(self, http: Http) -> None:
        self.http = http
        self._slots = asyncio.Semaphore(PUSH_CONCURRENCY)
        self._stopped = False  # set after an AuthError: nothing new is started

    async def push(self, updates: Sequence[FieldUpdate], catalog: FieldCatalog) -> PushResult:
        results = await asyncio.gather(
            *(self._guarded(catalog, u) for u in updates), return_exceptions=True
        )
        outcomes: list[PushOutcome] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result  # AuthError for the whole batch, or a bug: never swallowed
            outcomes.append(result)
        return PushResult(outcomes)

    async def _guarded(self, catalog: FieldCatalog, update: FieldUpdate) -> PushOutcome:
        async with self._slots:
            if self._stopped:
                return PushOutcome(
                    update.key, False, update.external_id, "not sent: credential rejected", True
                )
            try:
                return await self._one(catalog, update)
            except AuthError:
                self._stopped = True
                raise

    async def _one(self, catalog: FieldCatalog, update: FieldUpdate) -> PushOutcome:
        try:
            write = PersonWrite.plan(update.values, catalog)
            if update.external_id is None:
                return await self._create(update, write)
            person_id = await self._update(update.external_id, write)
            return PushOutcome(update.key, True, person_id)
        except ValueError as exc:
            return PushOutcome(update.key, False, update.external_id, str(exc))
        except TransientError as exc:
            return PushOutcome(update.key, False, update.external_id, str(exc), retryable=True)
        except RecordError as exc:
            return PushOutcome(update.key, False, update.external_id, str(exc))

    async def _update(self, person_id: str, write: PersonWrite) -> str:
        path = f"{PERSONS}/{person_id}"
        current = None
        if write.needs_current():
            current = data_of(self.http, path, await self.http.json(await self.http.get(path)))
        body = write.update_body(current)
        if body:
            answer = await self.http.json(await self.http.patch(path, json=body))
            data_of(self.http, path, answer)
        return person_id

    async def _create(self, update: FieldUpdate, write: PersonWrite) -> PushOutcome:
        email = update.email
        if isinstance(write.email, str) and write.email.strip():
            email = write.email
        if not email:
            raise ValueError("Pipedrive persons are created with an email; this update has none")
        if update.attempt > 1:
            # An earlier send may have created the person without our hearing back: find it
            # by email instead of creating a duplicate (there is no upsert for persons).
            existing = await self._find_by_email(email)
            if existing is not None:
                await self._update(existing, write)
                return PushOutcome(update.key, True, existing)
        body = write.create_body(email)
        # No upsert for persons: never re-sent blindly (see Http.request, idempotent=False).
        answer = await self.http.json(await self.http.post(PERSONS, json=body, idempotent=False))
        created = data_of(self.http, PERSONS, answer).get("id")
        if not isinstance(created, int):
            raise RecordError(f"{self.http.connector}: POST {PERSONS} answered without an id")
        return PushOutcome(update.key, True, str(created))

    async def _find_by_email(self, email: str) -> str | None:
        wanted = email.strip().lower()
        params = {"term": wanted, "fields": "email", "exact_match": "true", "limit": 10}
        answer = await self.http.json(await self.http.get(SEARCH, params=params))
        items = data_of(self.http, SEARCH, answer).get("items") or []
        ids = sorted(
            item["item"]["id"]
            for item in items
            if isinstance(item, Mapping)
            and isinstance(item.get("item"), Mapping)
            and isinstance(item["item"].get("id"), int)
            and any(str(e).strip().lower() == wanted for e in item["item"].get("emails") or [])
        )
        return str(ids[0]) if ids else None
