"""quota usage: each connector's spend of its daily API quota

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smarketing_sync.store.schema

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_usage",
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column(
            "window_start",
            smarketing_sync.store.schema.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column(
            "exhausted_at", smarketing_sync.store.schema.UtcDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("connector", name=op.f("pk_quota_usage")),
    )


def downgrade() -> None:
    op.drop_table("quota_usage")
