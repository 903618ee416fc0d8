"""The store's tables (SQLAlchemy Core): one schema for SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on SQLite (which has no zones) too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; use UTC-aware values")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = UtcDateTime()

#: One row per real-world person. ``golden`` is the winning value per customer field;
#: ``rev`` rises (from a store-wide sequence) whenever anything pushable about the person changes.
customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), index=True),
    sa.Column("golden", sa.JSON, nullable=False, default=dict),
    # per field: [winning connector, changed_at ISO] — what push needs to mark echoes
    sa.Column("provenance", sa.JSON, nullable=False, default=dict),
    sa.Column("rev", sa.BigInteger, nullable=False, index=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("deleted_at", TS),
)

#: Identity keys (normalized email, ...) owned by a customer; a customer may have several.
identities = sa.Table(
    "identities",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(320), primary_key=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
)

#: The person's id in each tool.
links = sa.Table(
    "links",
    metadata,
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("external_id", sa.String(128), primary_key=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("deleted_at", TS),
    sa.Index("ix_links_customer", "customer_id", "connector"),
)

#: What each tool says about each customer field, and since when it says so.
claims = sa.Table(
    "claims",
    metadata,
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("field", sa.String(64), primary_key=True),
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("value", sa.JSON),
    sa.Column("changed_at", TS, nullable=False),  # when the tool's value last changed
    sa.Column("observed_at", TS, nullable=False),  # when we last read it
)

#: Last version of every source record we applied: drops boundary duplicates and stale copies.
source_records = sa.Table(
    "source_records",
    metadata,
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("stream", sa.String(64), primary_key=True),
    sa.Column("external_id", sa.String(128), primary_key=True),
    sa.Column("updated_at", TS, nullable=False),
    # Vendors with second-precision times can change a record twice in one second: the content
    # fingerprint tells a real change from a boundary duplicate.
    sa.Column("fingerprint", sa.String(32), nullable=False),
)

activities = sa.Table(
    "activities",
    metadata,
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("external_id", sa.String(128), primary_key=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), index=True),
    sa.Column("contact_ids", sa.JSON, nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("occurred_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
)

deals = sa.Table(
    "deals",
    metadata,
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("external_id", sa.String(128), primary_key=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), index=True),
    sa.Column("contact_ids", sa.JSON, nullable=False),
    sa.Column("status", sa.String(32)),
    sa.Column("amount", sa.Float),
    sa.Column("currency", sa.String(8)),
    sa.Column("created_at", TS),
    sa.Column("won_at", TS),
    sa.Column("lost_at", TS),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("stream", sa.String(64), primary_key=True),
    sa.Column("value", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

#: The last customer value we wrote to a tool per vendor field: "only what changed" and echoes.
pushed = sa.Table(
    "pushed",
    metadata,
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("field", sa.String(128), primary_key=True),
    sa.Column("value", sa.JSON),
    sa.Column("source", sa.String(64), nullable=False),  # the customer field it was rendered from
    sa.Column("source_value", sa.JSON),
    sa.Column("source_changed_at", TS, nullable=False),
    sa.Column("pushed_at", TS, nullable=False),
)

#: Pending writes. One open row per (connector, customer); its key is the idempotency key.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("key", sa.String(128), nullable=False, unique=True),
    sa.Column("values", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sending | done | dead
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", TS, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Index("ix_outbox_due", "connector", "status", "next_attempt_at"),
    sa.Index("ix_outbox_open", "connector", "customer_id", "status"),
)

#: Records that could not be read, mapped or written, with why; retried or dropped by a human.
dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connector", sa.String(64), nullable=False, index=True),
    sa.Column("stage", sa.String(16), nullable=False),  # pull | map | push
    sa.Column("stream", sa.String(64)),
    sa.Column("external_id", sa.String(128)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON),
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("resolved_at", TS),
    # recovered (a retry wrote it) | superseded (a newer version replaced it) | dropped (by hand)
    sa.Column("resolution", sa.String(16)),
)

#: One row per sync run of a connector, for `status`.
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connector", sa.String(64), nullable=False, index=True),
    sa.Column("trigger", sa.String(16), nullable=False),  # schedule | resync | demo
    sa.Column("started_at", TS, nullable=False),
    sa.Column("finished_at", TS),
    sa.Column("status", sa.String(16), nullable=False),  # running | ok | failed
    sa.Column("counts", sa.JSON, nullable=False, default=dict),
    sa.Column("error", sa.Text),
)

#: Leases: a connector's sync runs in one process at a time (daemon, CLI resync, replicas).
locks = sa.Table(
    "locks",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", TS, nullable=False),
)

#: Store-wide counters (the customer revision sequence) and small key/value state.
meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.JSON),
)

#: The current score and lifecycle stage of each customer (scoring/, flow/score.py). The count
#: and newest change of the person's activities and deals it was computed from tell the score
#: stage whom a pull touched, without the pull having to report it.
scores = sa.Table(
    "scores",
    metadata,
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
    sa.Column("fit", sa.Float, nullable=False),
    sa.Column("engagement", sa.Float, nullable=False),
    sa.Column("band", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("stage_since", TS, nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("computed_at", TS, nullable=False, index=True),
    sa.Column("activity_count", sa.Integer, nullable=False),
    sa.Column("activity_newest", TS),
    sa.Column("deal_count", sa.Integer, nullable=False),
    sa.Column("deal_newest", TS),
)

#: Lets the score stage compare every customer's activity count and newest change with its
#: score row from the index alone, without reading the activities.
sa.Index("ix_activities_customer_updated", activities.c.customer_id, activities.c.updated_at)

#: Append-only: every lifecycle stage change, with when, why and the rule that fired.
stage_history = sa.Table(
    "stage_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("previous", sa.String(32)),
    sa.Column("entered_at", TS, nullable=False),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Index("ix_stage_history_customer", "customer_id", "entered_at"),
    sa.Index("ix_stage_history_stage", "stage", "entered_at"),
)

#: Each connector's spend of its vendor's daily API quota in the current window (quota.py).
quota_usage = sa.Table(
    "quota_usage",
    metadata,
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("window_start", TS, nullable=False),
    sa.Column("used", sa.Integer, nullable=False),  # calls made or reserved in this window
    sa.Column("budget", sa.Integer, nullable=False),  # share x declared daily limit
    sa.Column("exhausted_at", TS),
)

#: One row per hand-off of a customer to sales (flow/handoff.py). ``key`` is the idempotency
#: key of the CRM objects created for it: a re-run, a crash or a duplicate trigger finds the
#: row (and the CRM finds the objects) instead of creating a second lead, deal or task.
handoffs = sa.Table(
    "handoffs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(128), nullable=False, unique=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("crm", sa.String(64), nullable=False),
    # handed_over | accepted | rejected | converted | recycled
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),  # rejection (or recycle) reason, from the CRM
    sa.Column("owner_id", sa.String(64)),
    sa.Column("owner_source", sa.String(16)),  # assigned | crm (set by a human) | none
    sa.Column("team", sa.String(64)),
    sa.Column("handed_over_at", TS, nullable=False),
    sa.Column("decision_due_at", TS, nullable=False),
    sa.Column("touch_due_at", TS, nullable=False),
    sa.Column("decided_at", TS),  # accepted or rejected
    sa.Column("first_touch_at", TS),  # first call/email/meeting by the owner
    sa.Column("outcome_at", TS),  # converted or recycled
    sa.Column("score", sa.Integer),
    sa.Column("model_version", sa.String(32)),
    # the CRM side: what we created there, and the state of creating it
    sa.Column("crm_object", sa.String(16), nullable=False),  # lead | deal | task
    sa.Column("crm_person_id", sa.String(128)),
    sa.Column("crm_object_id", sa.String(128)),
    sa.Column("crm_task_id", sa.String(128)),
    sa.Column("create_status", sa.String(16), nullable=False),  # pending | done | dead
    sa.Column("create_attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", TS, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("facts", sa.JSON, nullable=False, default=dict),  # last CRM facts read
    sa.Column("updated_at", TS, nullable=False),
    sa.Index("ix_handoffs_customer", "customer_id", "handed_over_at"),
    sa.Index("ix_handoffs_state", "state", "handed_over_at"),
    sa.Index("ix_handoffs_owner", "owner_id", "state"),
    sa.Index("ix_handoffs_create", "create_status", "next_attempt_at"),
)

#: Append-only: every hand-off state change with its time and the fact (source) behind it.
handoff_events = sa.Table(
    "handoff_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("handoff_id", sa.Integer, sa.ForeignKey("handoffs.id"), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("previous", sa.String(16)),
    sa.Column("at", TS, nullable=False),
    sa.Column("source", sa.Text, nullable=False),  # e.g. "pipedrive lead.label=Accepted"
    sa.Column("reason", sa.Text),
    sa.Index("ix_handoff_events_handoff", "handoff_id", "at"),
)

#: SLA breach alerts: one row per (hand-off, clock, level, target), so each is sent once.
sla_alerts = sa.Table(
    "sla_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("handoff_id", sa.Integer, sa.ForeignKey("handoffs.id"), nullable=False),
    sa.Column("clock", sa.String(16), nullable=False),  # decision | first_touch
    sa.Column("level", sa.String(16), nullable=False),  # breach | escalation
    sa.Column("target", sa.String(512), nullable=False),
    sa.Column("format", sa.String(8), nullable=False),  # json | chat
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | dead
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", TS, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("sent_at", TS),
    sa.UniqueConstraint("handoff_id", "clock", "level", "target", name="uq_sla_alerts_once"),
    sa.Index("ix_sla_alerts_due", "status", "next_attempt_at"),
)

#: Where each person came from, decided once at lead creation and never overwritten (KPIS §1.5).
person_sources = sa.Table(
    "person_sources",
    metadata,
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("source", sa.String(16), nullable=False),  # marketing | sales | unknown
    sa.Column("detail", sa.Text),  # the origin value or touch that decided it
    sa.Column("rule", sa.String(32), nullable=False),  # origin_field | first_touch | none
    sa.Column("lead_at", TS),
    sa.Column("first_seen", TS),  # first tracked web visit
    sa.Column("decided_at", TS, nullable=False),
)

#: Campaign costs loaded from the configured file (marketing spend is in no synced tool).
campaign_costs = sa.Table(
    "campaign_costs",
    metadata,
    sa.Column("campaign", sa.String(128), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),  # YYYY-MM
    sa.Column("amount", sa.Float, nullable=False),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("channel", sa.String(64)),
)
