"""``POST /crm/v3/objects/{objectType}/search`` in the sandbox, per the search guide.

Request: ``filterGroups`` (OR of groups, AND inside one; at most 5 groups, 6 filters each and 18
in total), ``sorts`` (one; ``{"propertyName", "direction"}`` or a property name string,
``-name`` for descending), ``properties``, ``limit`` (default 10, at most 200) and ``after``
(an offset). Response: ``total``, ``results`` and ``paging.next.after`` while more remain.
A query yields at most 10,000 results; ``after`` at or past that answers 400
(https://developers.hubspot.com/docs/api-reference/search/guide#limits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .sandbox_schema import PropertyDef, parse_datetime_ms
from .sandbox_store import CREATED, MODIFIED, ObjectTable

MAX_LIMIT = 200
DEFAULT_LIMIT = 10
RESULT_CAP = 10_000
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
_RANGE = {"GT", "GTE", "LT", "LTE", "EQ", "BETWEEN"}
#: Properties a search returns when the request names none (search guide, per object).
DEFAULT_PROPERTIES = {
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
}


class SearchError(Exception):
    """A request HubSpot would refuse with 400 VALIDATION_ERROR."""


@dataclass(frozen=True, slots=True)
class Filter:
    prop: str
    operator: str
    value: Any
    high: Any
    values: tuple[Any, ...]
    numeric: bool

    def _key(self, raw: Any) -> Any:
        if raw is None:
            return None
        if self.numeric:
            ms = parse_datetime_ms(raw)
            if ms is None:
                raise SearchError(f"{raw!r} is not a valid value for {self.prop}")
            return ms
        return str(raw).lower()

    def matcher(self) -> Callable[[Any], bool]:
        op = self.operator
        if op == "HAS_PROPERTY":
            return lambda v: v is not None and v != ""
        if op == "NOT_HAS_PROPERTY":
            return lambda v: v is None or v == ""
        if op in ("IN", "NOT_IN"):
            wanted = {self._key(v) for v in self.values}
            inside = op == "IN"
            return lambda v: (v is not None and self._norm(v) in wanted) == inside
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(self.value).lower().strip("*")
            contains = op == "CONTAINS_TOKEN"
            return lambda v: (v is not None and token in str(v).lower()) == contains
        target = self._key(self.value)
        high = self._key(self.high) if op == "BETWEEN" else None
        compare: dict[str, Callable[[Any], bool]] = {
            "EQ": lambda v: v == target,
            "NEQ": lambda v: v != target,
            "LT": lambda v: v < target,
            "LTE": lambda v: v <= target,
            "GT": lambda v: v > target,
            "GTE": lambda v: v >= target,
            "BETWEEN": lambda v: target <= v <= high,
        }
        test = compare[op]
        if op == "NEQ":
            return lambda v: v is None or test(self._norm(v))
        return lambda v: v is not None and test(self._norm(v))

    def _norm(self, raw: Any) -> Any:
        if self.numeric:
            return raw if isinstance(raw, int) else parse_datetime_ms(raw)
        return str(raw).lower()


def _filters(body: dict[str, Any], defs: dict[str, PropertyDef]) -> list[list[Filter]]:
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise SearchError(f"at most {MAX_GROUPS} filterGroups are allowed")
    parsed: list[list[Filter]] = []
    total = 0
    for group in groups:
        filters = (group or {}).get("filters") or []
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise SearchError(f"at most {MAX_FILTERS_PER_GROUP} filters are allowed in a group")
        total += len(filters)
        current = []
        for item in filters:
            prop, op = item.get("propertyName"), item.get("operator", "EQ")
            if prop not in defs:
                raise SearchError(f"Property {prop!r} does not exist")
            if op not in OPERATORS:
                raise SearchError(f"Unknown operator {op!r}")
            if op == "BETWEEN" and item.get("highValue") is None:
                raise SearchError("BETWEEN needs value and highValue")
            if op in _RANGE - {"BETWEEN"} and item.get("value") is None:
                raise SearchError(f"{op} needs a value")
            numeric = defs[prop].type in ("number", "datetime", "date")
            current.append(
                Filter(
                    prop,
                    op,
                    item.get("value"),
                    item.get("highValue"),
                    tuple(item.get("values") or ()),
                    numeric,
                )
            )
        parsed.append(current)
    if total > MAX_FILTERS:
        raise SearchError(f"at most {MAX_FILTERS} filters are allowed in total")
    return parsed


def _sort(body: dict[str, Any], defs: dict[str, PropertyDef]) -> tuple[str, bool] | None:
    sorts = body.get("sorts") or []
    if len(sorts) > 1:
        raise SearchError("only one sort is supported")
    if not sorts:
        return None
    sort = sorts[0]
    if isinstance(sort, str):
        name, descending = sort.lstrip("-"), sort.startswith("-")
    else:
        name = sort.get("propertyName")
        descending = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
    if name not in defs:
        raise SearchError(f"Property {name!r} does not exist")
    return name, descending


def _modified_bounds(
    group: Sequence[Filter], modified: str
) -> tuple[int | None, bool, int | None, bool, list[Filter]]:
    """Range filters on the last-modified property become index bounds; the rest stay filters."""
    low: int | None = None
    low_strict = False
    high: int | None = None
    high_strict = False
    rest: list[Filter] = []
    for f in group:
        if f.prop != modified or f.operator not in _RANGE:
            rest.append(f)
            continue
        value = parse_datetime_ms(f.value)
        if value is None:
            raise SearchError(f"{f.value!r} is not a valid value for {modified}")
        if f.operator in ("GT", "GTE", "EQ", "BETWEEN"):
            strict = f.operator == "GT"
            if low is None or value > low or (value == low and strict):
                low, low_strict = value, strict
        if f.operator in ("LT", "LTE", "EQ", "BETWEEN"):
            top = parse_datetime_ms(f.high) if f.operator == "BETWEEN" else value
            if top is None:
                raise SearchError(f"{f.high!r} is not a valid value for {modified}")
            strict = f.operator == "LT"
            if high is None or top < high or (top == high and strict):
                high, high_strict = top, strict
    return low, low_strict, high, high_strict, rest


def _matching_ids(
    table: ObjectTable, groups: list[list[Filter]], sort: tuple[str, bool] | None
) -> list[int]:
    modified = MODIFIED[table.object_type]
    objects = table.objects
    if len(groups) <= 1:
        group = groups[0] if groups else []
        low, low_strict, high, high_strict, rest = _modified_bounds(group, modified)
        start, stop = table.modified_range(low, low_strict, high, high_strict)
        ids = table.ids_by_modified(start, stop)  # ascending by (modified, id)
        if rest:
            tests = [(f.prop, f.matcher()) for f in rest]
            ids = [i for i in ids if all(t(objects[i].value(p)) for p, t in tests)]
    else:
        compiled = [[(f.prop, f.matcher()) for f in group] for group in groups]
        ids = [
            i
            for i in table.ids_by_modified(0, len(objects))
            if any(all(t(objects[i].value(p)) for p, t in group) for group in compiled)
        ]
    ids = [i for i in ids if not objects[i].archived]
    if sort is None or sort[0] == "hs_object_id":
        ids.sort(reverse=bool(sort and sort[1]))
    elif sort[0] != modified:
        name = sort[0]

        def key(i: int) -> tuple[bool, Any, int]:
            value = objects[i].value(name)
            return (value is None, value if value is not None else "", i)

        ids.sort(key=key, reverse=sort[1])
    elif sort[1]:
        ids.reverse()
    return ids


def _window(
    table: ObjectTable,
    groups: list[list[Filter]],
    sort: tuple[str, bool] | None,
    offset: int,
    limit: int,
) -> tuple[list[int], int]:
    """The ids of one page and the total number of matches."""
    end = min(offset + limit, RESULT_CAP)
    modified = MODIFIED[table.object_type]
    if len(groups) <= 1 and sort == (modified, False):
        low, low_strict, high, high_strict, rest = _modified_bounds(
            groups[0] if groups else [], modified
        )
        if not rest:
            # The incremental read: a slice of the modified index, whatever the table size.
            start, stop = table.modified_range(low, low_strict, high, high_strict)
            return table.ids_by_modified(start + offset, min(stop, start + end)), stop - start
    ids = _matching_ids(table, groups, sort)
    return ids[offset:end], len(ids)


def run_search(
    table: ObjectTable, defs: dict[str, PropertyDef], body: Any
) -> tuple[int, dict[str, Any]]:
    """Answer one search request: (status, body without correlation id)."""
    if not isinstance(body, dict):
        raise SearchError("Invalid input JSON")
    if body.get("query"):
        raise SearchError("the sandbox does not implement free-text query; use filterGroups")
    limit = body.get("limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT}")
    after = str(body.get("after") or "0")
    if not after.isdigit():
        raise SearchError(f"after {after!r} is not a valid paging cursor")
    offset = int(after)
    if offset >= RESULT_CAP:
        raise SearchError(
            f"Search results are limited to {RESULT_CAP:,} per query; after={offset} pages past "
            "that limit. Narrow the query with filters instead of paging further."
        )
    groups, sort = _filters(body, defs), _sort(body, defs)
    window, total = _window(table, groups, sort, offset, limit)
    requested = body.get("properties")
    object_type = table.object_type
    always = ("hs_object_id", CREATED[object_type], MODIFIED[object_type])
    if requested:
        names = list(dict.fromkeys([*[n for n in requested if n in defs], *always]))
    else:
        names = list(DEFAULT_PROPERTIES.get(object_type, always))
    results = [table.objects[i].as_json(names) for i in window]
    answer: dict[str, Any] = {"total": total, "results": results}
    if offset + len(window) < total and window:
        answer["paging"] = {"next": {"after": str(offset + len(window))}}
    return 200, answer
