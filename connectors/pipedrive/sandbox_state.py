"""In-memory tables of the Pipedrive sandbox: records, sort indexes and v2 cursor paging.

Every table keeps three ascending indexes of ``(sort value, id)`` — by ``id``, ``add_time`` and
``update_time`` — so a page is a bisect plus a short walk, never a sort of the whole table.
``update_time`` is the only value that changes, and moving one key is a list pop + insort.
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

SortBy = Literal["id", "update_time", "add_time", "due_date"]
Direction = Literal["asc", "desc"]


class ApiError(Exception):
    """A request the sandbox rejects the way Pipedrive would (status + error text)."""

    def __init__(self, status: int, message: str, *, code: str | None = None) -> None:
        self.status = status
        self.message = message
        self.code = code
        super().__init__(message)


def validation_error(message: str) -> ApiError:
    # v2 validation failures read "Validation failed: <param>: <reason>" with this code, as in
    # https://github.com/pipedrive/client-nodejs/issues/651 (a real v2 400 body).
    return ApiError(400, f"Validation failed: {message}", code="ERR_SCHEMA_VALIDATION_FAILED")


def rfc3339(epoch: int) -> str:
    """Pipedrive v2 timestamps: RFC 3339, UTC, second precision (``2024-07-01T05:46:33Z``)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str, param: str) -> int:
    """Epoch seconds of an RFC 3339 timestamp; an offset is mandatory, as RFC 3339 says."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise validation_error(
            f"{param}: Parameter '{param}' must be in RFC3339 format, e.g. 2025-01-01T10:20:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise validation_error(f"{param}: Parameter '{param}' must include a timezone offset")
    return int(parsed.timestamp())


@dataclass(slots=True)
class Record:
    """Fields every Pipedrive entity has; subclasses add their own."""

    id: int
    add_time: int
    update_time: int
    is_deleted: bool = False


class HasTimes(Protocol):
    id: int
    add_time: int
    update_time: int
    is_deleted: bool


R = TypeVar("R", bound=HasTimes)


def encode_cursor(sort_by: str, value: Any, direction: str, record_id: int) -> str:
    """An opaque marker of the next page's first item, shaped like Pipedrive's own.

    Pipedrive's documented example cursor decodes to
    ``{"field":"id","fieldValue":7,"sortDirection":"asc","id":7}`` (base64url, no padding).
    """
    raw = json.dumps(
        {"field": sort_by, "fieldValue": value, "sortDirection": direction, "id": record_id},
        separators=(",", ":"),
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        raise validation_error("cursor: Parameter 'cursor' is not a valid cursor") from None
    if not isinstance(value, dict) or not {"field", "fieldValue", "sortDirection", "id"} <= set(
        value
    ):
        raise validation_error("cursor: Parameter 'cursor' is not a valid cursor")
    return value


@dataclass(slots=True)
class PageRequest:
    """A validated v2 list query."""

    limit: int
    sort_by: SortBy = "id"
    direction: Direction = "asc"
    cursor: str | None = None
    since: int | None = None  # updated_since, inclusive
    until: int | None = None  # updated_until, exclusive


@dataclass(slots=True)
class Table(Generic[R]):
    """One entity type: records by id plus sort indexes for cursor paging."""

    records: dict[int, R] = field(default_factory=dict)
    _by_id: list[tuple[Any, int]] = field(default_factory=list)
    _by_add: list[tuple[Any, int]] = field(default_factory=list)
    _by_update: list[tuple[Any, int]] = field(default_factory=list)
    _next_id: int = 1

    def new_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    def insert(self, record: R) -> R:
        self.records[record.id] = record
        self._next_id = max(self._next_id, record.id + 1)
        insort(self._by_id, (record.id, record.id))
        insort(self._by_add, (record.add_time, record.id))
        insort(self._by_update, (record.update_time, record.id))
        return record

    def touch(self, record: R, update_time: int) -> None:
        """Move ``record`` to its new ``update_time`` in the index."""
        old = (record.update_time, record.id)
        index = bisect_left(self._by_update, old)
        if index < len(self._by_update) and self._by_update[index] == old:
            del self._by_update[index]
        record.update_time = update_time
        insort(self._by_update, (update_time, record.id))

    def live(self, record_id: int) -> R | None:
        record = self.records.get(record_id)
        return None if record is None or record.is_deleted else record

    def _index(self, sort_by: str) -> list[tuple[Any, int]]:
        if sort_by == "update_time":
            return self._by_update
        if sort_by == "add_time":
            return self._by_add
        return self._by_id

    def page(
        self,
        request: PageRequest,
        keep: Callable[[R], bool] = lambda _r: True,
        sort_key: Callable[[R], Any] | None = None,
    ) -> tuple[list[R], str | None]:
        """One page of live records matching ``keep`` and the update-time window.

        ``sort_key`` sorts by a value that has no maintained index (activities' ``due_date``);
        that costs a sort per request, which is fine for the rarely used option.
        """
        if sort_key is not None:
            keys = sorted((sort_key(r), r.id) for r in self.records.values())
        else:
            keys = self._index(request.sort_by)
        start = self._start(keys, request)
        found: list[R] = []
        for key in self._walk(keys, start, request.direction):
            record = self.records[key[1]]
            if self._beyond_window(request, key):
                break
            if not self._matches(record, request, keep):
                continue
            if len(found) == request.limit:
                value = key[0]
                if request.sort_by in ("update_time", "add_time"):
                    value = rfc3339(int(value))
                return found, encode_cursor(request.sort_by, value, request.direction, key[1])
            found.append(record)
        return found, None

    def _start(self, keys: list[tuple[Any, int]], request: PageRequest) -> int:
        if request.cursor is not None:
            marker = decode_cursor(request.cursor)
            if marker["field"] != request.sort_by or marker["sortDirection"] != request.direction:
                raise validation_error(
                    "cursor: Parameter 'cursor' does not match sort_by and sort_direction"
                )
            value = marker["fieldValue"]
            if request.sort_by in ("update_time", "add_time"):
                value = parse_rfc3339(str(value), "cursor")
            key = (value, int(marker["id"]))
            if request.direction == "asc":
                return bisect_left(keys, key)
            return bisect_right(keys, key) - 1
        # Without a cursor an update_time sort can jump straight to the window's edge.
        if request.sort_by == "update_time":
            if request.direction == "asc" and request.since is not None:
                return bisect_left(keys, (request.since, -1))
            if request.direction == "desc" and request.until is not None:
                return bisect_left(keys, (request.until, -1)) - 1
        return 0 if request.direction == "asc" else len(keys) - 1

    @staticmethod
    def _walk(keys: list[tuple[Any, int]], start: int, direction: str) -> Iterator[tuple[Any, int]]:
        if direction == "asc":
            for i in range(max(start, 0), len(keys)):
                yield keys[i]
        else:
            for i in range(min(start, len(keys) - 1), -1, -1):
                yield keys[i]

    @staticmethod
    def _beyond_window(request: PageRequest, key: tuple[Any, int]) -> bool:
        """On an update_time sort, the first key outside the window ends the walk."""
        if request.sort_by != "update_time":
            return False
        if request.direction == "asc":
            return request.until is not None and key[0] >= request.until
        return request.since is not None and key[0] < request.since

    @staticmethod
    def _matches(record: R, request: PageRequest, keep: Callable[[R], bool]) -> bool:
        if record.is_deleted:
            return False
        if request.since is not None and record.update_time < request.since:
            return False
        if request.until is not None and record.update_time >= request.until:
            return False
        return keep(record)
