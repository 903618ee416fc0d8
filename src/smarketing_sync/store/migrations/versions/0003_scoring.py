"""scoring: current score and stage per customer, append-only stage history

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smarketing_sync.store.schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scores",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("fit", sa.Float(), nullable=False),
        sa.Column("engagement", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column(
            "stage_since", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column(
            "computed_at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("activity_count", sa.Integer(), nullable=False),
        sa.Column(
            "activity_newest",
            smarketing_sync.store.schema.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("deal_count", sa.Integer(), nullable=False),
        sa.Column(
            "deal_newest", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_scores")),
    )
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scores_computed_at"), ["computed_at"], unique=False)

    op.create_table(
        "stage_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("previous", sa.String(length=32), nullable=True),
        sa.Column(
            "entered_at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_history")),
    )
    with op.batch_alter_table("stage_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stage_history_customer", ["customer_id", "entered_at"], unique=False
        )
        batch_op.create_index("ix_stage_history_stage", ["stage", "entered_at"], unique=False)

    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activities_customer_updated", ["customer_id", "updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_customer_updated")
    with op.batch_alter_table("stage_history", schema=None) as batch_op:
        batch_op.drop_index("ix_stage_history_stage")
        batch_op.drop_index("ix_stage_history_customer")
    op.drop_table("stage_history")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scores_computed_at"))
    op.drop_table("scores")
