"""Helpers of the conformance kit: an Http for a connector class, fake time, pull and push runs.

Everything here uses only the public connector API, so a third-party connector package gets
exactly the behaviour the daemon gives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import httpx

from smarketing_sync import (
    Connector,
    ConnectorSettings,
    FieldUpdate,
    Http,
    Page,
    PushOutcome,
    RawRecord,
    base_url_for,
    generic_pull,
    get_path,
    http_for,
)
from smarketing_sync.mapping import Mapped, MappingFailure
from smarketing_sync.testing.conformance_replay import request_json, subset_problem
from smarketing_sync.testing.fixtures import NO_JSON, RecordedRequest, parse_instant

if TYPE_CHECKING:
    # Annotation only: the kit imports nothing private at run time (third-party packages
    # run it too); HttpSettings is not re-exported by ``smarketing_sync`` yet.
    from smarketing_sync.sdk.http import HttpSettings

_ABSENT: Any = object()


class FakeTime:
    """A clock and a sleep that never wait: sleeping moves the clock and is written down."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def validated_settings(
    cls: type[Connector], settings: Mapping[str, Any] | ConnectorSettings
) -> ConnectorSettings:
    """The connector's settings model, validated the way the daemon validates config."""
    if isinstance(settings, ConnectorSettings):
        return settings
    return cls.settings.model_validate(dict(settings))


#: The flow's own rule (``smarketing_sync.base_url_for``), under the kit's historical name.
base_url_of = base_url_for


def make_http(
    cls: type[Connector],
    settings: Mapping[str, Any] | ConnectorSettings,
    *,
    http_settings: HttpSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    fake_time: FakeTime | None = None,
) -> Http:
    """An ``Http`` for ``cls`` built exactly as the flow builds it.

    Args:
        cls: the connector class.
        settings: its settings as a dict (validated here) or an already validated model.
        http_settings: retry and limiter settings; None: the daemon's defaults.
        transport: where requests go (a replay's transport in the kit).
        fake_time: sleep and clock to use instead of real time.
    """
    validated = validated_settings(cls, settings)
    extra: dict[str, Any] = {}
    if fake_time is not None:
        extra = {"sleep": fake_time.sleep, "clock": fake_time.clock}
    # Built by the same function the flow uses, so the kit tests what the daemon runs.
    return http_for(cls, validated, http_settings, transport=transport, **extra)


async def pull_pages(
    cls: type[Connector], http: Http, stream: str, since: datetime | None, *, max_pages: int
) -> list[Page]:
    """Every page of one stream, the way the flow reads it (``pull`` or ``generic_pull``)."""
    connector = cls()
    custom = getattr(connector, "pull", None)
    pages = (
        custom(http, stream, since) if custom else generic_pull(http, cls.streams[stream], since)
    )
    collected: list[Page] = []
    async for page in pages:
        collected.append(page)
        if len(collected) > max_pages:
            raise AssertionError(
                f"{cls.name}: stream {stream!r} yielded more than {max_pages} pages for a "
                "fixture that cannot hold that many: pagination does not terminate"
            )
    return collected


async def push_in_batches(
    cls: type[Connector], http: Http, updates: Sequence[FieldUpdate]
) -> list[list[PushOutcome]]:
    """Push ``updates`` the way the flow does: in order, at most ``push_batch_size`` per call."""
    connector: Any = cls()
    size = max(1, cls.push_batch_size)
    results: list[list[PushOutcome]] = []
    for start in range(0, len(updates), size):
        batch = list(updates[start : start + size])
        result = await connector.push(http, batch)
        results.append(list(result.outcomes))
    return results


# --- records ----------------------------------------------------------------------------------


def cursor_value(record: RawRecord, path: str) -> Any:
    return get_path(record, path, _ABSENT)


def is_absent(value: Any) -> bool:
    return value is _ABSENT


def sort_key(value: Any) -> Any:
    """Cursor values compare as instants when they are datetimes, else as they are."""
    instant = parse_instant(value)
    return (0, instant) if instant is not None else (1, str(value))


@dataclass(frozen=True, slots=True)
class DedupeKey:
    """The flow's boundary-duplicate rule: same id and same cursor value."""

    id: str
    cursor: str


def dedupe_key(record: RawRecord, id_field: str, cursor_field: str) -> DedupeKey:
    value = cursor_value(record, cursor_field)
    instant = parse_instant(value)
    return DedupeKey(
        str(get_path(record, id_field)), instant.isoformat() if instant else str(value)
    )


# --- mapped records ---------------------------------------------------------------------------


def mapped_view(result: Mapped | MappingFailure) -> dict[str, Any]:
    """A flat, comparable view of a mapping result for the fixture's ``mapped`` entries.

    Customer/activity/deal fields sit at the top level, next to ``external_id``, ``updated_at``,
    ``deleted`` and, by kind, ``identity``, ``type``, ``occurred_at`` and ``contact_ids``. A
    failure reads ``{"failed": true, "field": ..., "reason": ...}``.
    """
    if isinstance(result, MappingFailure):
        return {"failed": True, "field": result.field, "reason": result.reason}
    view: dict[str, Any] = dict(result.fields)
    for name in ("external_id", "updated_at", "deleted", "identity", "type", "occurred_at"):
        if hasattr(result, name):
            view[name] = getattr(result, name)
    if hasattr(result, "contact_ids"):
        view["contact_ids"] = list(result.contact_ids)
    view["failed"] = False
    return view


def mapped_problem(expected: Mapping[str, Any], view: Mapping[str, Any]) -> str | None:
    """Why a mapped view does not contain the expected entry, or None."""
    if view.get("failed") and not expected.get("failed"):
        return f"{view.get('field') or 'record'}: failed to map: {view.get('reason')}"
    for key, wanted in expected.items():
        if key not in view:
            known = sorted(k for k in view if k != "failed")
            return f"{key}: not produced by the mapping (produced: {known})"
        problem = value_problem(wanted, view[key], key)
        if problem:
            return problem
    return None


def value_problem(expected: Any, actual: Any, where: str) -> str | None:
    """Compare a JSON value from a fixture with a mapped Python value."""
    if isinstance(actual, datetime):
        instant = parse_instant(expected)
        if instant is None or instant != actual:
            return f"{where}: expected {expected!r}, mapped {actual.isoformat()!r}"
        return None
    if isinstance(actual, date):
        if expected != actual.isoformat():
            return f"{where}: expected {expected!r}, mapped {actual.isoformat()!r}"
        return None
    if isinstance(actual, tuple):
        actual = list(actual)
    if isinstance(actual, Mapping):
        actual = dict(actual)
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{where}: expected {expected!r}, mapped {actual!r}"
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problem = value_problem(e, a, f"{where}[{index}]")
            if problem:
                return problem
        return None
    return subset_problem(expected, actual, where)


# --- push requests and the updates they concern -----------------------------------------------


def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value).strip().lower()


def request_tokens(request: httpx.Request) -> set[str]:
    """Ids and emails a sent request carries: path segments, query values, JSON leaves."""
    tokens = {segment.lower() for segment in request.url.path.split("/") if segment}
    tokens.update(value.strip().lower() for _, value in request.url.params.multi_items())
    body = request_json(request)
    tokens.update(_leaves(body) if body is not NO_JSON else ())
    return tokens


def recorded_tokens(recorded: RecordedRequest) -> set[str]:
    """The same for a recorded request (its path, ``params_has`` and ``json_has``)."""
    tokens = {segment.lower() for segment in recorded.path.split("/") if segment}
    tokens.update(_leaves(dict(recorded.params_has)))
    tokens.update(_leaves(recorded.json_has) if isinstance(recorded.json_has, dict | list) else ())
    return tokens


def update_tokens(update: FieldUpdate) -> set[str]:
    """What identifies an update in a request: its id, its email or its key (a trace id)."""
    tokens = {update.key.lower()}
    if update.external_id:
        tokens.add(update.external_id.lower())
    if update.email:
        tokens.add(update.email.strip().lower())
    return tokens


def concerned(tokens: set[str], updates: Sequence[FieldUpdate]) -> set[str]:
    """Keys of the updates a request with ``tokens`` is about."""
    return {u.key for u in updates if update_tokens(u) & tokens}


@dataclass(slots=True)
class RejectionPlan:
    """Which recorded push request the kit answers with a 4xx, and what must follow."""

    rejected_index: int
    rejected_keys: set[str]
    kept: list[RecordedRequest] = field(default_factory=list)  # requests that must still go


def plan_rejection(
    requests: Sequence[RecordedRequest], updates: Sequence[FieldUpdate]
) -> RejectionPlan | None:
    """Pick a request to reject: preferably one followed by a request about other updates."""
    about = [concerned(recorded_tokens(r), updates) for r in requests]
    candidates = [i for i, keys in enumerate(about) if keys]
    if not candidates:
        return None
    chosen = candidates[0]
    for i in candidates:
        if any(about[j] and not (about[j] & about[i]) for j in range(i + 1, len(requests))):
            chosen = i
            break
    keys = about[chosen]
    kept = [r for j, r in enumerate(requests) if j != chosen and not (about[j] & keys)]
    return RejectionPlan(chosen, keys, kept)


def list_lengths(body: Any) -> list[int]:
    """Lengths of the lists a JSON body carries at its top two levels (batch inputs)."""
    if isinstance(body, list):
        return [len(body)]
    if isinstance(body, Mapping):
        return [len(v) for v in body.values() if isinstance(v, list)]
    return []
