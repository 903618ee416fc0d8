"""What passes between a connector and the flow: pages in, field updates out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

RawRecord = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of raw vendor records, in the vendor's own shape."""

    records: Sequence[RawRecord]


@dataclass(frozen=True, slots=True)
class FieldUpdate:
    """A change to write to one person in one tool.

    Attributes:
        key: the outbox row's idempotency key; stable across re-sends of the same change.
        external_id: the person's id in the tool, or None when the person must be created.
        email: the person's normalized email (identity for creates and their dedupe).
        values: vendor field name -> value, already mapped by the push mapping.
        attempt: 1 on the first send; above 1 when an earlier send was never acknowledged, so a
            connector without an upsert endpoint must look the person up before creating.
    """

    key: str
    external_id: str | None
    email: str | None
    values: Mapping[str, Any]
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """What happened to one FieldUpdate."""

    key: str
    ok: bool
    external_id: str | None = None  # the tool's id (set on create)
    error: str | None = None  # the vendor's reason when rejected
    retryable: bool = False  # a transient cause: retry later rather than dead-letter


@dataclass(slots=True)
class PushResult:
    """Outcomes of one batch, one per FieldUpdate (connectors must answer for every update)."""

    outcomes: list[PushOutcome] = field(default_factory=list)

    @classmethod
    def all_failed(
        cls, updates: Sequence[FieldUpdate], error: str, *, retryable: bool = False
    ) -> PushResult:
        return cls([PushOutcome(u.key, False, u.external_id, error, retryable) for u in updates])
