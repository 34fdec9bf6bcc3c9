"""ingest problems remember whether the file may be restricted

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("ingest_problem")}
    if "restricted" not in columns:
        # Existing rows are rewritten by the next index run; until then, admins only.
        op.add_column(
            "ingest_problem",
            sa.Column("restricted", sa.Boolean(), nullable=False, server_default=sa.true()),
        )


def downgrade() -> None:
    op.drop_column("ingest_problem", "restricted")
