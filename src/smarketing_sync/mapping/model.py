"""What the mapping stage produces from one raw vendor record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smarketing_sync.sdk.records import RawRecord

#: Fields of the unified customer record that mappings may write. Config may add more
#: (``[customer] extra_fields``); anything else in a mapping is a typo and rejected.
CORE_CUSTOMER_FIELDS: frozenset[str] = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "company",
        "job_title",
        "phone",
        "country",
        "city",
        "website",
        "company_size",
        "industry",
        "lifecycle",
        "lead_status",
        "lead_source",
        "owner",
        "opted_out",
        # Where the person came from and how they converted (flow/sources.py, flow/touches.py):
        # the origin's drill-down, when the tool created the record, the first tracked visit
        # and the first and most recent conversion (event name and time).
        "lead_source_detail",
        "record_created_at",
        "first_seen",
        "first_conversion",
        "first_conversion_at",
        "recent_conversion",
        "recent_conversion_at",
    }
)

#: Customer values the daemon computes (read-only for pull mappings, usable in push mappings).
COMPUTED_FIELDS: frozenset[str] = frozenset(
    {
        "customer_id",
        "score.value",
        "score.band",
        "score.reason",
        "stage",
        "handoff.status",
        "handoff.reason",
        "handoff.owner",
    }
)

#: Activity types that are marketing touches (KPIS §1.7): page view, form submission, email
#: click, ad click, event attended. Opens are not touches (mail-privacy proxies open mail).
TOUCH_TYPES: frozenset[str] = frozenset(
    {"page_view", "form_submission", "email_click", "ad_click", "event"}
)

ACTIVITY_FIELDS: frozenset[str] = frozenset(
    {
        "subject",
        "body",
        "direction",
        "status",
        "duration_s",
        "owner",
        "campaign",
        "channel",
        "url",
        "done",  # False for a planned call: not a touch yet (SLA first touch)
    }
)
DEAL_FIELDS: frozenset[str] = frozenset(
    {
        "title",
        "amount",
        "currency",
        "status",
        "created_at",
        "won_at",
        "lost_at",
        "lost_reason",
        "pipeline",
        "stage",
        "owner",
        "origin",
    }
)


@dataclass(frozen=True, slots=True)
class MappedContact:
    connector: str
    stream: str
    external_id: str
    updated_at: datetime
    identity: Mapping[str, str]  # normalized identity keys present, e.g. {"email": "a@b.example"}
    fields: Mapping[str, Any]  # customer field -> converted value (None: blank in the tool)
    deleted: bool = False
    warnings: tuple[str, ...] = ()  # non-fatal conversion problems (field dropped, reason)


@dataclass(frozen=True, slots=True)
class MappedActivity:
    connector: str
    stream: str
    external_id: str
    updated_at: datetime
    type: str
    occurred_at: datetime
    contact_ids: tuple[str, ...]  # the tool's own ids of the people this activity belongs to
    fields: Mapping[str, Any] = field(default_factory=dict)
    deleted: bool = False
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MappedDeal:
    connector: str
    stream: str
    external_id: str
    updated_at: datetime
    contact_ids: tuple[str, ...]
    fields: Mapping[str, Any] = field(default_factory=dict)
    deleted: bool = False
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MappingFailure:
    """A record that could not be mapped; it is dead-lettered with this reason."""

    connector: str
    stream: str
    external_id: str | None
    field: str | None
    reason: str
    raw: RawRecord


Mapped = MappedContact | MappedActivity | MappedDeal
