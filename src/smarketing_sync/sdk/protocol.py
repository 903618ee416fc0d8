"""The Connector protocol: what the core expects of a connector class."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from smarketing_sync.sdk.declarations import Capability, Endpoint, FieldSpec, RateLimit
from smarketing_sync.sdk.http import ErrorTable, Http
from smarketing_sync.sdk.records import (
    FieldUpdate,
    HandoffCreated,
    HandoffFacts,
    HandoffRef,
    HandoffRequest,
    Page,
    PushResult,
)


class ConnectorSettings(BaseModel):
    """Base of every connector's settings model. Secrets must be typed ``SecretStr``.

    ``base_url`` lets a deployment (or the sandbox) point a connector somewhere else.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None


@runtime_checkable
class Connector(Protocol):
    """A connector class. Instances are created with no arguments and hold no state between runs.

    Required class attributes describe the vendor; ``pull``/``push``/``ensure_fields`` are
    optional (``smarketing_sync.sdk.pull.generic_pull`` is used when ``pull`` is absent).
    """

    name: ClassVar[str]
    settings: ClassVar[type[ConnectorSettings]]
    capabilities: ClassVar[frozenset[Capability]]
    base_url: ClassVar[str]
    streams: ClassVar[Mapping[str, Endpoint]]
    check_path: ClassVar[str]
    rate_limit: ClassVar[RateLimit]
    push_batch_size: ClassVar[int]

    def headers(self, settings: Any) -> Mapping[str, str]: ...


class PullsPages(Protocol):
    def pull(self, http: Http, stream: str, since: datetime | None) -> AsyncIterator[Page]: ...


class PushesFields(Protocol):
    async def push(self, http: Http, updates: Sequence[FieldUpdate]) -> PushResult: ...


class EnsuresFields(Protocol):
    async def ensure_fields(self, http: Http, fields: Sequence[FieldSpec]) -> list[str]:
        """Create the missing custom fields; return the names that were created."""
        ...


class HasErrorOverrides(Protocol):
    error_overrides: ClassVar[ErrorTable]


class HandsOff(Protocol):
    """A CRM connector with ``Capability.HANDOFF``: the CRM side of a hand-off.

    ``create_handoffs`` must answer for every request, in any order (matched by key), and must
    never create a second lead/deal/task for a key it created before (``attempt > 1``: look it
    up first). ``read_handoffs`` answers for every ref; a ref whose objects are gone answers
    ``found=False``.
    """

    async def create_handoffs(
        self, http: Http, requests: Sequence[HandoffRequest]
    ) -> list[HandoffCreated]: ...

    async def read_handoffs(self, http: Http, refs: Sequence[HandoffRef]) -> list[HandoffFacts]: ...
