"""Incremental reads through HubSpot's CRM search: keyset pages on the last-modified property.

Search pages with ``after`` are offsets into the result list (``paging.next.after`` is "200",
"400", ...), and a query stops at 10,000 results: paging past that answers 400
(https://developers.hubspot.com/docs/api-reference/search/guide#limits). Offsets are also unsafe
on a list that changes while we read it: a record edited mid-read moves to the end and shifts
every later record one place back, so the record at the page boundary is skipped for good.

So every page is its own query, restarted from the last cursor value seen (``GTE``, sorted
ascending) and dropping the ids already yielded at that exact value. No query ever pages, so
the 10,000 cap is never reached and an edit during the read cannot hide a record. When more
than a page of records share one timestamp the restart would return the same page forever; that
run of ties is then read in ``hs_object_id`` order (``EQ`` on the timestamp, ``GT`` the last
id), which always moves forward.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from smarketing_sync import ContractError, Http, RawRecord, get_path

from .streams import SEARCH_PAGE_SIZE, SearchObject


def to_epoch_ms(value: datetime) -> int:
    """A timezone-aware datetime as HubSpot's epoch milliseconds."""
    return int(value.timestamp() * 1000)


def parse_timestamp_ms(value: Any) -> int | None:
    """A HubSpot datetime property (ISO 8601 with ``Z``, or epoch ms) as epoch milliseconds."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return to_epoch_ms(parsed)


def _filter(prop: str, operator: str, value: int | str) -> dict[str, str]:
    return {"propertyName": prop, "operator": operator, "value": str(value)}


def _has_next(body: Any) -> bool:
    return bool(get_path(body, "paging.next.after"))


class SearchReader:
    """Reads one object type from ``since`` onwards, one keyset query per page."""

    def __init__(self, http: Http, spec: SearchObject, since: datetime | None) -> None:
        self._http = http
        self._spec = spec
        self._lower = to_epoch_ms(since) if since is not None else None
        self._seen_at_lower: set[str] = set()
        self._strict = False  # after draining a run of ties: strictly after that timestamp

    def _request(self, filters: list[dict[str, str]], sort_property: str) -> dict[str, Any]:
        return {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": sort_property, "direction": "ASCENDING"}],
            "properties": list(self._spec.properties),
            "limit": SEARCH_PAGE_SIZE,
        }

    async def _search(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        response = await self._http.post(self._spec.path, json=body)
        data = await self._http.json(response)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ContractError(
                f"{self._http.connector}: {self._spec.path} answered without a results list"
            )
        return results, _has_next(data)

    def _cursor_ms(self, record: RawRecord) -> int:
        raw = get_path(record, f"properties.{self._spec.cursor_property}")
        value = parse_timestamp_ms(raw)
        if value is None:
            raise ContractError(
                f"{self._http.connector}: {self._spec.object_type} {record.get('id')!r} has no "
                f"usable {self._spec.cursor_property} ({raw!r})"
            )
        return value

    async def pages(self) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of records never yielded before, in ascending cursor order."""
        prop = self._spec.cursor_property
        while True:
            filters = []
            if self._lower is not None:
                operator = "GT" if self._strict else "GTE"
                filters.append(_filter(prop, operator, self._lower))
            results, more = await self._search(self._request(filters, prop))
            fresh = self._take_fresh(results)
            if fresh:
                yield fresh
            if not more:
                return
            if not fresh:
                if self._strict:
                    raise ContractError(
                        f"{self._http.connector}: {self._spec.path} returned records at or "
                        f"before {prop} {self._lower} although the query asked for later ones"
                    )
                # A full page of records we already have, all at one timestamp.
                async for page in self._drain_ties():
                    yield page
                self._strict = True

    def _take_fresh(self, results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh: list[dict[str, Any]] = []
        previous: int | None = None
        for record in results:
            at = self._cursor_ms(record)
            if previous is not None and at < previous:
                raise ContractError(
                    f"{self._http.connector}: {self._spec.path} ignored the ascending sort on "
                    f"{self._spec.cursor_property}"
                )
            previous = at
            record_id = str(record.get("id"))
            if self._lower is not None and (
                at < self._lower
                or (at == self._lower and (self._strict or record_id in self._seen_at_lower))
            ):
                continue
            if self._lower is None or at > self._lower:
                # A new timestamp: "strictly after" only ever applied to the one drained.
                self._lower, self._seen_at_lower, self._strict = at, {record_id}, False
            else:
                self._seen_at_lower.add(record_id)
            fresh.append(record)
        return fresh

    async def _drain_ties(self) -> AsyncIterator[list[dict[str, Any]]]:
        """Every record at exactly ``self._lower`` that was not yielded yet, in id order."""
        assert self._lower is not None
        last_id = 0
        while True:
            filters = [
                _filter(self._spec.cursor_property, "EQ", self._lower),
                _filter("hs_object_id", "GT", last_id),
            ]
            results, more = await self._search(self._request(filters, "hs_object_id"))
            page: list[dict[str, Any]] = []
            for record in results:
                record_id = str(record.get("id"))
                if not record_id.isdigit() or int(record_id) <= last_id:
                    raise ContractError(
                        f"{self._http.connector}: {self._spec.path} answered id {record_id!r} "
                        f"to a query for ids after {last_id}"
                    )
                last_id = int(record_id)
                if record_id not in self._seen_at_lower:
                    self._seen_at_lower.add(record_id)
                    page.append(record)
            if page:
                yield page
            if not more or not results:
                return
