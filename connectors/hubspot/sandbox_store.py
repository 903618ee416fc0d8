"""The sandbox portal's state: CRM objects, a last-modified index, properties and a clock.

Objects of each type are kept in a dict by id plus a list of ``(modified_ms, id)`` sorted at all
times, so a search filtered and sorted on the last-modified property is a bisect and a slice
even with tens of thousands of records. Every write bumps the record's modification time to the
portal clock (wall time that never goes backwards), and always past its previous value.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .sandbox_handoff_schema import OWNERS, TASKS, owner_options, task_properties
from .sandbox_schema import (
    ENGAGEMENT_TYPES,
    PropertyDef,
    contact_properties,
    default_groups,
    engagement_properties,
    iso_ms,
    stored_value,
)

#: The property each object type keeps its creation and last modification time in.
CREATED = {"contacts": "createdate", **{t: "hs_createdate" for t in (*ENGAGEMENT_TYPES, TASKS)}}
MODIFIED = {
    "contacts": "lastmodifieddate",
    **{t: "hs_lastmodifieddate" for t in (*ENGAGEMENT_TYPES, TASKS)},
}


@dataclass(slots=True)
class CrmObject:
    id: int
    object_type: str
    properties: dict[str, str | None]
    created_ms: int
    modified_ms: int
    archived: bool = False
    contact_ids: list[int] = field(default_factory=list)  # engagements: associated contacts

    def value(self, name: str) -> Any:
        """A property as search sees it (times as epoch ms, the id as an int)."""
        if name == "hs_object_id":
            return self.id
        if name == CREATED[self.object_type]:
            return self.created_ms
        if name == MODIFIED[self.object_type]:
            return self.modified_ms
        return self.properties.get(name)

    def rendered(self, names: Iterable[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for name in names:
            if name == "hs_object_id":
                out[name] = str(self.id)
            elif name in (CREATED[self.object_type], MODIFIED[self.object_type]):
                out[name] = iso_ms(self.value(name))
            else:
                out[name] = self.properties.get(name)
        return out

    def as_json(self, names: Iterable[str]) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "properties": self.rendered(names),
            "createdAt": iso_ms(self.created_ms),
            "updatedAt": iso_ms(self.modified_ms),
            "archived": self.archived,
        }


class ObjectTable:
    """The live objects of one type, indexed by id and by ``(modified_ms, id)``."""

    def __init__(self, object_type: str) -> None:
        self.object_type = object_type
        self.objects: dict[int, CrmObject] = {}
        self._by_modified: list[tuple[int, int]] = []

    def load(self, objects: Iterable[CrmObject]) -> None:
        """Seed many objects at once (one sort instead of an insort each)."""
        for obj in objects:
            self.objects[obj.id] = obj
            self._by_modified.append((obj.modified_ms, obj.id))
        self._by_modified.sort()

    def add(self, obj: CrmObject) -> None:
        self.objects[obj.id] = obj
        insort(self._by_modified, (obj.modified_ms, obj.id))

    def touch(self, obj: CrmObject, modified_ms: int) -> None:
        index = bisect_left(self._by_modified, (obj.modified_ms, obj.id))
        if index < len(self._by_modified) and self._by_modified[index] == (
            obj.modified_ms,
            obj.id,
        ):
            del self._by_modified[index]
        obj.modified_ms = modified_ms
        insort(self._by_modified, (modified_ms, obj.id))

    def live(self) -> list[CrmObject]:
        return [obj for obj in self.objects.values() if not obj.archived]

    def modified_range(
        self, low: int | None, low_strict: bool, high: int | None, high_strict: bool
    ) -> tuple[int, int]:
        """Index bounds ``[start, stop)`` of the modified-ordered list within the range."""
        keys = self._by_modified
        start = 0
        if low is not None:
            start = bisect_right(keys, (low, 2**63)) if low_strict else bisect_left(keys, (low, -1))
        stop = len(keys)
        if high is not None:
            stop = (
                bisect_left(keys, (high, -1)) if high_strict else bisect_right(keys, (high, 2**63))
            )
        return start, max(start, stop)

    def ids_by_modified(self, start: int, stop: int) -> list[int]:
        return [object_id for _, object_id in self._by_modified[start:stop]]


class Clock:
    """Wall-clock epoch milliseconds that never go backwards (nor before the seeded data).

    Several records written in the same millisecond share it, as in HubSpot; one record's own
    modification time still always moves forward (see ``Portal.write``).
    """

    def __init__(self) -> None:
        self._last = 0

    def floor(self, ms: int) -> None:
        self._last = max(self._last, ms)

    def now_ms(self) -> int:
        self._last = max(int(time.time() * 1000), self._last)
        return self._last


class Portal:
    """One HubSpot account: objects, property definitions, groups and the clock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.tables = {t: ObjectTable(t) for t in ("contacts", *ENGAGEMENT_TYPES, TASKS)}
        self.properties: dict[str, dict[str, PropertyDef]] = {
            "contacts": contact_properties(),
            **{t: engagement_properties(t) for t in ENGAGEMENT_TYPES},
            TASKS: task_properties(),
        }
        # An owner property only takes the id of one of the portal's owners.
        self.owners = OWNERS
        self.properties["contacts"]["hubspot_owner_id"].options = owner_options(self.owners)
        self.groups: dict[str, dict[str, Any]] = default_groups()
        self.email_index: dict[str, int] = {}
        self._next_id = {
            "contacts": 1001,
            **{t: 5_000_001 + i for i, t in enumerate(ENGAGEMENT_TYPES)},
            TASKS: 9_000_001,
        }

    def new_id(self, object_type: str) -> int:
        # Engagement ids of the four types interleave (step 4) so no two objects share an id.
        step = len(ENGAGEMENT_TYPES) if object_type in ENGAGEMENT_TYPES else 1
        value = self._next_id[object_type]
        self._next_id[object_type] = value + step
        return value

    def contact_by_email(self, email: str) -> CrmObject | None:
        object_id = self.email_index.get(email.strip().lower())
        return None if object_id is None else self.tables["contacts"].objects.get(object_id)

    def build(
        self,
        object_type: str,
        values: Mapping[str, Any],
        *,
        created_ms: int,
        modified_ms: int,
        contact_ids: list[int] | None = None,
    ) -> CrmObject:
        """A new object from already validated values (not yet in any table)."""
        defs = self.properties[object_type]
        properties = {name: stored_value(defs[name], value) for name, value in values.items()}
        obj = CrmObject(
            self.new_id(object_type),
            object_type,
            {k: v for k, v in properties.items() if v is not None},
            created_ms,
            modified_ms,
            contact_ids=list(contact_ids or []),
        )
        self.clock.floor(max(created_ms, modified_ms))
        return obj

    def index_email(self, obj: CrmObject) -> None:
        email = obj.properties.get("email")
        if obj.object_type == "contacts" and email:
            self.email_index[email] = obj.id

    def create(
        self, object_type: str, values: Mapping[str, Any], contact_ids: list[int] | None = None
    ) -> CrmObject:
        now = self.clock.now_ms()
        obj = self.build(
            object_type, values, created_ms=now, modified_ms=now, contact_ids=contact_ids
        )
        self.tables[object_type].add(obj)
        self.index_email(obj)
        return obj

    def write(self, obj: CrmObject, values: Mapping[str, Any]) -> None:
        """Apply validated values and bump the modification time, as every HubSpot write does."""
        defs = self.properties[obj.object_type]
        old_email = obj.properties.get("email")
        for name, value in values.items():
            stored = stored_value(defs[name], value)
            if stored is None:
                obj.properties.pop(name, None)
            else:
                obj.properties[name] = stored
        new_email = obj.properties.get("email")
        if obj.object_type == "contacts" and new_email != old_email:
            if old_email and self.email_index.get(old_email) == obj.id:
                del self.email_index[old_email]
            self.index_email(obj)
        self.tables[obj.object_type].touch(obj, max(self.clock.now_ms(), obj.modified_ms + 1))

    def set_modified(self, obj: CrmObject, modified_ms: int) -> None:
        """Test hook: put a record at an exact modification time (to build ties)."""
        self.tables[obj.object_type].touch(obj, modified_ms)
        self.clock.floor(modified_ms)
