"""on-call deliveries: an incident's precedents sent once per channel, with retries

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if "oncall_delivery" in set(sa.inspect(op.get_bind()).get_table_names()):
        return  # made by create_all on a fresh database
    op.create_table(
        "oncall_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", AutoString(length=64), nullable=False),
        sa.Column("source", AutoString(length=32), nullable=False),
        sa.Column("source_id", AutoString(length=128), nullable=False),
        sa.Column("alert", AutoString(length=500), nullable=False),
        sa.Column("status", AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", AutoString(length=500), nullable=True),
        sa.Column("message", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "source", "source_id", name="uq_oncall_delivery"),
    )
    op.create_index("ix_oncall_delivery_due", "oncall_delivery", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_oncall_delivery_due", table_name="oncall_delivery")
    op.drop_table("oncall_delivery")
