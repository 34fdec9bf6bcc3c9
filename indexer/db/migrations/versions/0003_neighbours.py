"""stored related lists (neighbours), computed at index time

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Derived data: empty tables; the next index run (or `pml serve`) fills them.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "neighbour_list" not in existing:
        op.create_table(
            "neighbour_list",
            sa.Column("postmortem_id", AutoString(length=128), nullable=False),
            sa.Column("content_hash", AutoString(length=64), nullable=False),
            sa.Column("model", AutoString(length=200), nullable=False),
            sa.Column("cutoff", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint("postmortem_id"),
        )
    if "neighbour" not in existing:
        op.create_table(
            "neighbour",
            sa.Column("postmortem_id", AutoString(length=128), nullable=False),
            sa.Column("rank", sa.Integer(), nullable=False),
            sa.Column("other_id", AutoString(length=128), nullable=False),
            sa.Column("score", sa.Float(), nullable=False),
            sa.Column("ordinal", sa.Integer(), nullable=True),
            sa.Column("similarity", sa.Float(), nullable=True),
            sa.PrimaryKeyConstraint("postmortem_id", "rank"),
        )
        op.create_index("ix_neighbour_other_id", "neighbour", ["other_id"])


def downgrade() -> None:
    op.drop_index("ix_neighbour_other_id", table_name="neighbour")
    op.drop_table("neighbour")
    op.drop_table("neighbour_list")
