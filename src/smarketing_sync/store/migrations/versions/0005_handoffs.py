"""hand-offs, SLA alerts, person sources and campaign costs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 11:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smarketing_sync.store.schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_costs",
        sa.Column("campaign", sa.String(length=128), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("campaign", "month", name=op.f("pk_campaign_costs")),
    )
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("crm", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("owner_source", sa.String(length=16), nullable=True),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column(
            "handed_over_at",
            smarketing_sync.store.schema.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "decision_due_at",
            smarketing_sync.store.schema.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "touch_due_at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "decided_at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "first_touch_at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "outcome_at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("model_version", sa.String(length=32), nullable=True),
        sa.Column("crm_object", sa.String(length=16), nullable=False),
        sa.Column("crm_person_id", sa.String(length=128), nullable=True),
        sa.Column("crm_object_id", sa.String(length=128), nullable=True),
        sa.Column("crm_task_id", sa.String(length=128), nullable=True),
        sa.Column("create_status", sa.String(length=16), nullable=False),
        sa.Column("create_attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at",
            smarketing_sync.store.schema.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column(
            "updated_at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
        sa.UniqueConstraint("key", name=op.f("uq_handoffs_key")),
    )
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_handoffs_create", ["create_status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_handoffs_customer", ["customer_id", "handed_over_at"], unique=False
        )
        batch_op.create_index("ix_handoffs_owner", ["owner_id", "state"], unique=False)
        batch_op.create_index("ix_handoffs_state", ["state", "handed_over_at"], unique=False)

    op.create_table(
        "person_sources",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column(
            "lead_at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "first_seen", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "decided_at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_person_sources")),
    )
    op.create_table(
        "handoff_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("previous", sa.String(length=16), nullable=True),
        sa.Column("at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["handoff_id"],
            ["handoffs.id"],
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_events")),
    )
    with op.batch_alter_table("handoff_events", schema=None) as batch_op:
        batch_op.create_index("ix_handoff_events_handoff", ["handoff_id", "at"], unique=False)

    op.create_table(
        "sla_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("clock", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at",
            smarketing_sync.store.schema.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "sent_at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["handoff_id"],
            ["handoffs.id"],
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_alerts")),
        sa.UniqueConstraint("handoff_id", "clock", "level", "target", name="uq_sla_alerts_once"),
    )
    with op.batch_alter_table("sla_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_sla_alerts_due", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sla_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_sla_alerts_due")

    op.drop_table("sla_alerts")
    with op.batch_alter_table("handoff_events", schema=None) as batch_op:
        batch_op.drop_index("ix_handoff_events_handoff")

    op.drop_table("handoff_events")
    op.drop_table("person_sources")
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_index("ix_handoffs_state")
        batch_op.drop_index("ix_handoffs_owner")
        batch_op.drop_index("ix_handoffs_customer")
        batch_op.drop_index("ix_handoffs_create")

    op.drop_table("handoffs")
    op.drop_table("campaign_costs")
