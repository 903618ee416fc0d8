"""What passes between a connector and the flow: pages in, field updates out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass(frozen=True, slots=True)
class HandoffRequest:
    """Create the CRM side of one hand-off: a lead or deal (or nothing) plus a follow-up task.

    Attributes:
        key: the hand-off's idempotency key. Connectors write it into the created objects
            (e.g. the task's note) so that on ``attempt > 1`` they can find what an earlier,
            unacknowledged attempt already created instead of creating it twice.
        person_id: the person's id in the CRM (the push stage creates missing persons first).
        object: "lead" | "deal" | "task" — "task" creates only the follow-up task.
        owner_id: the CRM user the hand-off goes to (None: leave the CRM's default).
        title: title of the lead/deal.
        pipeline, stage: where a deal is put (vendor ids as text).
        task_type, task_subject, task_note: the follow-up task.
        due_at: when the task is due: the SLA decision time (UTC).
        attempt: 1 on the first send; above 1 when an earlier send was never acknowledged.
    """

    key: str
    person_id: str
    object: str
    owner_id: str | None
    title: str
    due_at: datetime
    task_type: str = "call"
    task_subject: str = ""
    task_note: str = ""
    pipeline: str | None = None
    stage: str | None = None
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class HandoffCreated:
    """The outcome of one HandoffRequest."""

    key: str
    ok: bool
    object_id: str | None = None  # the lead's or deal's id (None for object = "task")
    task_id: str | None = None
    error: str | None = None
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class HandoffRef:
    """A created hand-off whose current state the flow wants to read back."""

    key: str
    object: str
    object_id: str | None
    task_id: str | None
    person_id: str | None


@dataclass(frozen=True, slots=True)
class HandoffFacts:
    """What the CRM says now about one hand-off's objects, as flat ``object.field`` facts.

    Examples: ``lead.label`` ("Accepted"), ``lead.archived`` (True), ``lead.converted`` (True),
    ``deal.stage`` ("3"), ``deal.status`` ("lost"), ``deal.lost_reason``, ``task.done``,
    ``owner`` (the owner of the lead/deal). ``found`` is False when the object was deleted.
    """

    key: str
    found: bool
    facts: Mapping[str, Any] = field(default_factory=dict)
    changed_at: datetime | None = None  # the vendor's last update time of the object
