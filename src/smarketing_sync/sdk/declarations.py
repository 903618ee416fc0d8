"""What a connector declares: capabilities, streams, cursors, pagination and rate limits.

Declarations are frozen dataclasses: data the core reads, not a base class to inherit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Literal

RecordKind = Literal["contact", "activity", "deal"]


class Capability(StrEnum):
    """What a connector can do; the flow only calls what is declared."""

    PULL_CONTACTS = "pull:contacts"
    PULL_ACTIVITIES = "pull:activities"
    PULL_DEALS = "pull:deals"
    PUSH_FIELDS = "push:fields"  # update contact fields, and create contacts that are missing
    CREATE_FIELDS = "create:fields"  # create the custom properties/fields we write
    #: the CRM side of a hand-off: create a lead/deal/task for a person and read its state back
    HANDOFF = "crm:handoff"


@dataclass(frozen=True, slots=True)
class Cursor:
    """The field an incremental stream is filtered and checkpointed on.

    Attributes:
        field: dotted path of the cursor value in a raw record (datetime: ISO 8601 or epoch ms).
        sorted: the vendor returns records in ascending cursor order, so the cursor may be
            checkpointed after every page (singer's ``is_sorted``); otherwise only at stream end.
        lookback: re-read window; boundary duplicates are dropped by (id, cursor value).
    """

    field: str
    sorted: bool = False
    lookback: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Offset:
    """limit/offset pagination."""

    limit: int
    limit_param: str = "limit"
    offset_param: str = "offset"


@dataclass(frozen=True, slots=True)
class CursorToken:
    """Opaque next-page token taken from the response body."""

    limit: int
    token_path: str  # dotted path of the next token in the response body
    limit_param: str = "limit"
    token_param: str = "cursor"  # noqa: S105 - a query parameter's name, not a secret


@dataclass(frozen=True, slots=True)
class Single:
    """The whole stream comes in one response."""

    limit: int = 0


Paginate = Offset | CursorToken | Single


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One pullable stream of a connector."""

    path: str
    kind: RecordKind
    records: str  # dotted path of the record list in the response body
    method: Literal["GET", "POST"] = "GET"
    paginate: Paginate = field(default_factory=Single)
    cursor: Cursor | None = None
    id_field: str = "id"
    since_param: str | None = None  # query parameter taking the cursor lower bound (generic pull)
    #: Documented field paths of a record of this stream, used by ``check`` to catch mapping
    #: typos offline. ``prefix.*`` admits anything below ``prefix`` (custom fields).
    #: Empty: paths are not checked statically.
    fields: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Limit:
    """A documented budget: ``requests`` per ``per_seconds`` for paths containing ``match``."""

    requests: int
    per_seconds: float
    match: str = ""  # "" applies to every request


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The vendor's documented limits and the headers that report them."""

    limits: tuple[Limit, ...] = ()
    remaining_header: str | None = None
    reset_header: str | None = None  # seconds until the window resets
    retry_after_header: str = "Retry-After"
    daily_limit: int | None = None  # requests per day, tracked for the quota budget


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A custom field the connector must make sure exists in the tool before pushing."""

    name: str  # the vendor's internal name (HubSpot property name, Pipedrive field name)
    label: str
    type: Literal["string", "number", "datetime", "enumeration"] = "string"
    options: tuple[str, ...] = ()


EMPTY_STREAMS: Mapping[str, Endpoint] = {}
