"""webhook deliveries stored before processing; the event time of each incident

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "intake_delivery" not in set(inspector.get_table_names()):
        op.create_table(
            "intake_delivery",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("vendor", AutoString(length=32), nullable=False),
            sa.Column("event", AutoString(length=128), nullable=False),
            sa.Column("headers", sa.JSON(), nullable=True),
            sa.Column("body", sa.LargeBinary(), nullable=True),
            sa.Column("size", sa.Integer(), nullable=False),
            sa.Column("signature", AutoString(length=16), nullable=False),
            sa.Column("outcome", AutoString(length=16), nullable=False),
            sa.Column("detail", AutoString(), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_intake_delivery_outcome", "intake_delivery", ["outcome", "id"])
    columns = {column["name"] for column in inspector.get_columns("incident")}
    if "event_at" not in columns:
        with op.batch_alter_table("incident") as batch:
            batch.add_column(sa.Column("event_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("event_at")
    op.drop_index("ix_intake_delivery_outcome", table_name="intake_delivery")
    op.drop_table("intake_delivery")
