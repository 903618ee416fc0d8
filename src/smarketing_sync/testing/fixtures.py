"""Golden fixtures of the conformance kit: the file format, loading and validation.

A stream fixture (``<stream>.json``) pairs the requests a connector makes with the vendor's
answers and with what must come out; a push fixture (``push_<object>.json``) pairs field updates
with the requests that must be sent and the outcomes expected. The format is described in
``docs/connectors.md``. Keys starting with ``_`` (and ``comment``/``doc``/``source``) are notes
for humans, e.g. the vendor reference URL a body was adapted from; any other unknown key is an
error, so that a typo such as ``json_hass`` cannot turn a check into a no-op. Replaying them is
``conformance_replay``'s job.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from smarketing_sync import FieldSpec, FieldUpdate

NOTE_KEYS = frozenset({"comment", "comments", "doc", "docs", "source", "sources", "note", "notes"})
_REQUEST_KEYS = frozenset({"method", "path", "params_has", "json_has", "status", "headers", "body"})
#: What ``request_json`` answers for a request without a JSON body (and ``json_has`` unset).
NO_JSON: Any = object()


class FixtureError(AssertionError):
    """A fixture file is malformed; the message names the file and the key."""


def _check_keys(where: str, data: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(k for k in data if k not in allowed and k not in NOTE_KEYS and k[:1] != "_")
    if unknown:
        raise FixtureError(f"{where}: unknown key(s) {unknown} (allowed: {sorted(allowed)})")


def _require(where: str, data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        raise FixtureError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind):
        raise FixtureError(f"{where}.{key}: expected {kind}, found {value!r}")
    return value


def parse_instant(value: Any) -> datetime | None:
    """A cursor value as an aware datetime: ISO 8601 (``Z`` or offset; naive is UTC) or epoch ms.

    Returns None for anything else, so callers can fall back to comparing raw values.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the connector must make and the vendor's answer to it."""

    method: str
    path: str  # relative to the connector's base URL; the full URL path is accepted too
    params_has: Mapping[str, Any] = field(default_factory=dict)
    json_has: Any = NO_JSON  # a subset of the JSON body (``conformance_replay.subset_problem``)
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    @classmethod
    def from_json(cls, where: str, data: Any) -> RecordedRequest:
        if not isinstance(data, dict):
            raise FixtureError(f"{where}: expected an object, found {data!r}")
        _check_keys(where, data, _REQUEST_KEYS)
        method = _require(where, data, "method", str).upper()
        path = _require(where, data, "path", str)
        if not path.startswith("/"):
            raise FixtureError(f"{where}.path: must start with '/', found {path!r}")
        params = dict(data.get("params_has") or {})
        path, _, query = path.partition("?")
        for key, value in httpx.QueryParams(query).multi_items():
            params.setdefault(key, value)
        status = data.get("status", 200)
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise FixtureError(f"{where}.status: expected an HTTP status, found {status!r}")
        headers = data.get("headers") or {}
        if not isinstance(headers, dict):
            raise FixtureError(f"{where}.headers: expected an object, found {headers!r}")
        return cls(
            method=method,
            path=path,
            params_has=params,
            json_has=data.get("json_has", NO_JSON),
            status=status,
            headers={str(k): str(v) for k, v in headers.items()},
            body=data.get("body"),
        )

    def describe(self) -> str:
        text = f"{self.method} {self.path}"
        if self.params_has:
            text += f" params_has={dict(self.params_has)}"
        if self.json_has is not NO_JSON:
            text += f" json_has={json.dumps(self.json_has)[:300]}"
        return text

    def response(self, request: httpx.Request | None = None) -> httpx.Response:
        """The recorded answer: JSON for objects and lists, text for strings, empty for null."""
        if self.body is None:
            return httpx.Response(self.status, headers=dict(self.headers), request=request)
        if isinstance(self.body, str):
            return httpx.Response(
                self.status, headers=dict(self.headers), text=self.body, request=request
            )
        return httpx.Response(
            self.status, headers=dict(self.headers), json=self.body, request=request
        )


@dataclass(frozen=True, slots=True)
class StreamFixture:
    """``<stream>.json``: the replayed requests of one pull and what must come out of it."""

    path: Path
    requests: tuple[RecordedRequest, ...]
    since: datetime | None
    expect_records: int | None
    expect_max_cursor: Any  # None when the stream has no cursor or no records
    mapped: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class PushFixture:
    """``push_<object>.json``: updates to push, the requests they must cause, the outcomes."""

    path: Path
    updates: tuple[FieldUpdate, ...]
    requests: tuple[RecordedRequest, ...]
    expect_ok: frozenset[str]
    expect_failed: frozenset[str]
    expect_created: Mapping[str, str]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FixtureError(f"{path}: fixture file does not exist") from None
    except json.JSONDecodeError as exc:
        raise FixtureError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FixtureError(f"{path}: expected a JSON object at the top")
    return data


def _requests(path: Path, data: Mapping[str, Any]) -> tuple[RecordedRequest, ...]:
    raw = _require(str(path), data, "requests", list)
    return tuple(
        RecordedRequest.from_json(f"{path}: requests[{i}]", item) for i, item in enumerate(raw)
    )


def load_stream_fixture(path: Path) -> StreamFixture:
    """Read and validate a stream fixture, or raise FixtureError naming the bad key."""
    data = _read_json(path)
    _check_keys(str(path), data, frozenset({"requests", "since", "expect", "mapped"}))
    requests = _requests(path, data)
    if not requests:
        raise FixtureError(f"{path}: 'requests' is empty; record at least the first page")
    since_raw = data.get("since")
    since = None
    if since_raw is not None:
        since = parse_instant(since_raw)
        if since is None:
            raise FixtureError(f"{path}.since: expected an ISO 8601 datetime, found {since_raw!r}")
    expect = data.get("expect") or {}
    if not isinstance(expect, dict):
        raise FixtureError(f"{path}.expect: expected an object, found {expect!r}")
    _check_keys(f"{path}.expect", expect, frozenset({"records", "max_cursor"}))
    records = expect.get("records")
    if records is not None and (not isinstance(records, int) or isinstance(records, bool)):
        raise FixtureError(f"{path}.expect.records: expected an integer, found {records!r}")
    mapped = data.get("mapped") or []
    if not isinstance(mapped, list) or not all(isinstance(m, dict) for m in mapped):
        raise FixtureError(f"{path}.mapped: expected a list of objects")
    return StreamFixture(
        path=path,
        requests=requests,
        since=since,
        expect_records=records,
        expect_max_cursor=expect.get("max_cursor"),
        mapped=tuple(mapped),
    )


@dataclass(frozen=True, slots=True)
class FieldsFixture:
    """``ensure_fields.json``: custom fields to ensure, the requests, the names created."""

    path: Path
    fields: tuple[FieldSpec, ...]
    requests: tuple[RecordedRequest, ...]
    expect_created: tuple[str, ...]


def load_fields_fixture(path: Path) -> FieldsFixture:
    """Read and validate an ``ensure_fields`` fixture, or raise FixtureError."""
    data = _read_json(path)
    _check_keys(str(path), data, frozenset({"fields", "requests", "expect"}))
    fields = []
    for i, item in enumerate(_require(str(path), data, "fields", list)):
        where = f"{path}: fields[{i}]"
        if not isinstance(item, dict):
            raise FixtureError(f"{where}: expected an object, found {item!r}")
        _check_keys(where, item, frozenset({"name", "label", "type", "options"}))
        fields.append(
            FieldSpec(
                name=_require(where, item, "name", str),
                label=_require(where, item, "label", str),
                type=item.get("type", "string"),
                options=tuple(item.get("options") or ()),
            )
        )
    expect = _require(str(path), data, "expect", dict)
    _check_keys(f"{path}.expect", expect, frozenset({"created"}))
    created = _require(f"{path}.expect", expect, "created", list)
    return FieldsFixture(path, tuple(fields), _requests(path, data), tuple(map(str, created)))


def _update(where: str, data: Any) -> FieldUpdate:
    if not isinstance(data, dict):
        raise FixtureError(f"{where}: expected an object, found {data!r}")
    _check_keys(where, data, frozenset({"key", "external_id", "email", "values", "attempt"}))
    external_id = data.get("external_id")
    email = data.get("email")
    if external_id is None and not email:
        raise FixtureError(f"{where}: a create (external_id null) needs an email")
    attempt = data.get("attempt", 1)
    if not isinstance(attempt, int) or attempt < 1:
        raise FixtureError(f"{where}.attempt: expected an integer >= 1, found {attempt!r}")
    return FieldUpdate(
        key=_require(where, data, "key", str),
        external_id=None if external_id is None else str(external_id),
        email=email,
        values=dict(_require(where, data, "values", dict)),
        attempt=attempt,
    )


def load_push_fixture(path: Path) -> PushFixture:
    """Read and validate a push fixture, or raise FixtureError naming the bad key."""
    data = _read_json(path)
    _check_keys(str(path), data, frozenset({"updates", "requests", "expect"}))
    updates = tuple(
        _update(f"{path}: updates[{i}]", item)
        for i, item in enumerate(_require(str(path), data, "updates", list))
    )
    keys = [u.key for u in updates]
    if len(set(keys)) != len(keys):
        raise FixtureError(f"{path}: update keys must be unique, found {keys}")
    expect = _require(str(path), data, "expect", dict)
    _check_keys(f"{path}.expect", expect, frozenset({"ok", "failed", "created"}))
    ok = frozenset(str(k) for k in expect.get("ok") or [])
    failed = frozenset(str(k) for k in expect.get("failed") or [])
    created = {str(k): str(v) for k, v in (expect.get("created") or {}).items()}
    covered = ok | failed | set(created)
    if ok & failed:
        raise FixtureError(f"{path}.expect: keys both ok and failed: {sorted(ok & failed)}")
    if covered != set(keys):
        raise FixtureError(
            f"{path}.expect: every update key must be expected ok, failed or created "
            f"(missing {sorted(set(keys) - covered)}, unknown {sorted(covered - set(keys))})"
        )
    return PushFixture(
        path=path,
        updates=updates,
        requests=_requests(path, data),
        expect_ok=ok,
        expect_failed=failed,
        expect_created=created,
    )


def iter_fixture_files(folder: Path, prefix: str = "") -> Iterator[Path]:
    """JSON files of a fixture folder whose name starts with ``prefix``, sorted."""
    if folder.is_dir():
        yield from sorted(p for p in folder.glob(f"{prefix}*.json") if p.is_file())
