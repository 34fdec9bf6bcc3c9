"""initial schema

Revision ID: 0001
Revises: (none: the baseline)
Create Date: 2026-11-26 20:46:20.051085
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # A database made by create_all before migrations existed already has some of
    # these tables (with their indexes): create only what is missing.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "alert" not in existing:
        op.create_table(
            "alert",
            sa.Column("fingerprint", AutoString(length=128), nullable=False),
            sa.Column("starts_key", AutoString(length=40), nullable=False),
            sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("status", AutoString(length=16), nullable=False),
            sa.Column("alertname", AutoString(), nullable=False),
            sa.Column("service", AutoString(length=128), nullable=False),
            sa.Column("labels", sa.JSON(), nullable=True),
            sa.Column("annotations", sa.JSON(), nullable=True),
            sa.Column("near_miss_id", sa.Integer(), nullable=True),
            sa.PrimaryKeyConstraint("fingerprint", "starts_key"),
        )
    if "api_token" not in existing:
        op.create_table(
            "api_token",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("name", AutoString(length=128), nullable=False),
            sa.Column("token_hash", AutoString(length=64), nullable=False),
            sa.Column("groups", sa.JSON(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("name"),
            sa.UniqueConstraint("token_hash"),
        )
    if "audit_log" not in existing:
        op.create_table(
            "audit_log",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("actor", AutoString(length=256), nullable=False),
            sa.Column("action", AutoString(length=64), nullable=False),
            sa.Column("target", AutoString(length=2048), nullable=False),
            sa.Column("address", AutoString(length=64), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    if "embedding" not in existing:
        op.create_table(
            "embedding",
            sa.Column("model", AutoString(length=200), nullable=False),
            sa.Column("content_hash", AutoString(length=64), nullable=False),
            sa.Column("vector", sa.LargeBinary(), nullable=False),
            sa.PrimaryKeyConstraint("model", "content_hash"),
        )
    if "incident" not in existing:
        op.create_table(
            "incident",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("source", AutoString(length=32), nullable=False),
            sa.Column("source_id", AutoString(length=128), nullable=False),
            sa.Column("title", AutoString(), nullable=False),
            sa.Column("service", AutoString(length=128), nullable=False),
            sa.Column("severity", AutoString(length=8), nullable=True),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("detected_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("mitigated_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("error_class", AutoString(length=128), nullable=True),
            sa.Column("error_budget_minutes", sa.Float(), nullable=True),
            sa.Column("postmortem_ref", AutoString(length=128), nullable=True),
            sa.Column("postmortem_id", AutoString(length=128), nullable=True),
            sa.Column("started_day", sa.Date(), nullable=False),
            sa.Column("started_week", AutoString(length=8), nullable=False),
            sa.Column("started_month", AutoString(length=7), nullable=False),
            sa.Column("started_quarter", AutoString(length=7), nullable=False),
            sa.Column("ttd_seconds", sa.Float(), nullable=True),
            sa.Column("tta_seconds", sa.Float(), nullable=True),
            sa.Column("ttr_seconds", sa.Float(), nullable=True),
            sa.Column("raw", sa.JSON(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("source", "source_id", name="uq_incident_source"),
        )
        op.create_index(
            "ix_incident_budget",
            "incident",
            ["started_month", "service", "started_day", "error_budget_minutes"],
            unique=False,
        )
        op.create_index(
            "ix_incident_day_service",
            "incident",
            ["started_day", "service", "started_quarter"],
            unique=False,
        )
        op.create_index(
            "ix_incident_mtta_month",
            "incident",
            ["started_month", "tta_seconds", "acknowledged_at", "started_day", "service"],
            unique=False,
        )
        op.create_index(
            "ix_incident_mtta_quarter",
            "incident",
            ["started_quarter", "tta_seconds", "acknowledged_at", "started_day", "service"],
            unique=False,
        )
        op.create_index(
            "ix_incident_mtta_week",
            "incident",
            ["started_week", "tta_seconds", "acknowledged_at", "started_day", "service"],
            unique=False,
        )
        op.create_index(
            "ix_incident_mttd_month",
            "incident",
            ["started_month", "ttd_seconds", "detected_at", "started_day", "service"],
            unique=False,
        )
        op.create_index(
            "ix_incident_mttd_quarter",
            "incident",
            ["started_quarter", "ttd_seconds", "detected_at", "started_day", "service"],
            unique=False,
        )
        op.create_index(
            "ix_incident_mttd_week",
            "incident",
            ["started_week", "ttd_seconds", "detected_at", "started_day", "service"],
            unique=False,
        )
        op.create_index(
            "ix_incident_mttr_month",
            "incident",
            ["started_month", "ttr_seconds", "resolved_at", "started_day", "service"],
            unique=False,
        )
        op.create_index(
            "ix_incident_mttr_quarter",
            "incident",
            ["started_quarter", "ttr_seconds", "resolved_at", "started_day", "service"],
            unique=False,
        )
        op.create_index(
            "ix_incident_mttr_week",
            "incident",
            ["started_week", "ttr_seconds", "resolved_at", "started_day", "service"],
            unique=False,
        )
        op.create_index(
            op.f("ix_incident_postmortem_id"), "incident", ["postmortem_id"], unique=False
        )
        op.create_index("ix_incident_postmortem_ref", "incident", ["postmortem_ref"], unique=False)
        op.create_index("ix_incident_source_id", "incident", ["source_id"], unique=False)
    if "ingest_problem" not in existing:
        op.create_table(
            "ingest_problem",
            sa.Column("path", AutoString(), nullable=False),
            sa.Column("line", sa.Integer(), nullable=False),
            sa.Column("message", AutoString(), nullable=False),
            sa.PrimaryKeyConstraint("path"),
        )
    if "near_miss" not in existing:
        op.create_table(
            "near_miss",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("date", sa.Date(), nullable=False),
            sa.Column("service", AutoString(length=128), nullable=False),
            sa.Column("what_failed", AutoString(), nullable=False),
            sa.Column("caught_by", AutoString(), nullable=False),
            sa.Column("corrective_action", AutoString(), nullable=True),
            sa.Column("group_key", AutoString(), nullable=False),
            sa.Column("source", AutoString(length=16), nullable=False),
            sa.Column("alert_fingerprint", AutoString(length=128), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_near_miss_date"), "near_miss", ["date"], unique=False)
        op.create_index(op.f("ix_near_miss_group_key"), "near_miss", ["group_key"], unique=False)
    if "pml_meta" not in existing:
        op.create_table(
            "pml_meta",
            sa.Column("key", AutoString(length=64), nullable=False),
            sa.Column("value", AutoString(), nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )
    if "postmortem" not in existing:
        op.create_table(
            "postmortem",
            sa.Column("id", AutoString(length=128), nullable=False),
            sa.Column("path", AutoString(), nullable=False),
            sa.Column("content_hash", AutoString(length=64), nullable=False),
            sa.Column("title", AutoString(), nullable=False),
            sa.Column("date", sa.Date(), nullable=False),
            sa.Column("status", AutoString(length=16), nullable=False),
            sa.Column("visibility", AutoString(length=16), nullable=False),
            sa.Column("severity", AutoString(length=8), nullable=True),
            sa.Column("type", AutoString(length=16), nullable=True),
            sa.Column("owner", AutoString(), nullable=True),
            sa.Column("trigger", AutoString(), nullable=True),
            sa.Column("detection_method", AutoString(length=32), nullable=True),
            sa.Column("detection_alert", AutoString(), nullable=True),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("detected_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("mitigated_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("customer_facing", sa.Boolean(), nullable=True),
            sa.Column("impact_summary", AutoString(), nullable=True),
            sa.Column("slo", AutoString(), nullable=True),
            sa.Column("error_budget_minutes", sa.Float(), nullable=True),
            sa.Column("mitigation_maturity", AutoString(length=16), nullable=True),
            sa.Column("duplicate_of", AutoString(), nullable=True),
            sa.Column("body", AutoString(), nullable=False),
            sa.Column("front_matter", sa.JSON(), nullable=True),
            sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_postmortem_date"), "postmortem", ["date"], unique=False)
        op.create_index(op.f("ix_postmortem_path"), "postmortem", ["path"], unique=False)
    if "postmortem_history" not in existing:
        op.create_table(
            "postmortem_history",
            sa.Column("path", AutoString(), nullable=False),
            sa.Column("repo_path", AutoString(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("authors", sa.JSON(), nullable=True),
            sa.Column("commit", AutoString(length=64), nullable=False),
            sa.PrimaryKeyConstraint("path"),
        )
    if "action_item" not in existing:
        op.create_table(
            "action_item",
            sa.Column("postmortem_id", AutoString(length=128), nullable=False),
            sa.Column("item_id", AutoString(length=64), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("title", AutoString(), nullable=False),
            sa.Column("type", AutoString(length=16), nullable=True),
            sa.Column("priority", AutoString(length=4), nullable=True),
            sa.Column("owner", AutoString(), nullable=True),
            sa.Column("due", sa.Date(), nullable=True),
            sa.Column("status", AutoString(length=16), nullable=False),
            sa.Column("ticket", AutoString(), nullable=True),
            sa.ForeignKeyConstraint(
                ["postmortem_id"],
                ["postmortem.id"],
            ),
            sa.PrimaryKeyConstraint("postmortem_id", "item_id"),
        )
        op.create_index(op.f("ix_action_item_due"), "action_item", ["due"], unique=False)
        op.create_index(op.f("ix_action_item_owner"), "action_item", ["owner"], unique=False)
        op.create_index(op.f("ix_action_item_status"), "action_item", ["status"], unique=False)
    if "chunk" not in existing:
        op.create_table(
            "chunk",
            sa.Column("postmortem_id", AutoString(length=128), nullable=False),
            sa.Column("ordinal", sa.Integer(), nullable=False),
            sa.Column("heading", AutoString(), nullable=False),
            sa.Column("text", AutoString(), nullable=False),
            sa.Column("content_hash", AutoString(length=64), nullable=False),
            sa.ForeignKeyConstraint(
                ["postmortem_id"],
                ["postmortem.id"],
            ),
            sa.PrimaryKeyConstraint("postmortem_id", "ordinal"),
        )
        op.create_index(op.f("ix_chunk_content_hash"), "chunk", ["content_hash"], unique=False)
    if "external_ref" not in existing:
        op.create_table(
            "external_ref",
            sa.Column("postmortem_id", AutoString(length=128), nullable=False),
            sa.Column("source", AutoString(length=32), nullable=False),
            sa.Column("ref", AutoString(), nullable=False),
            sa.ForeignKeyConstraint(
                ["postmortem_id"],
                ["postmortem.id"],
            ),
            sa.PrimaryKeyConstraint("postmortem_id", "source", "ref"),
        )
        op.create_index("ix_ref_source_ref", "external_ref", ["source", "ref"], unique=False)
    if "incident_by_class" not in existing:
        op.create_table(
            "incident_by_class",
            sa.Column("incident_id", sa.Integer(), nullable=False),
            sa.Column("error_class", AutoString(length=128), nullable=False),
            sa.Column("service", AutoString(length=128), nullable=False),
            sa.Column("started_day", sa.Date(), nullable=False),
            sa.Column("started_week", AutoString(length=8), nullable=False),
            sa.Column("started_month", AutoString(length=7), nullable=False),
            sa.Column("started_quarter", AutoString(length=7), nullable=False),
            sa.Column("detected_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("ttd_seconds", sa.Float(), nullable=True),
            sa.Column("tta_seconds", sa.Float(), nullable=True),
            sa.Column("ttr_seconds", sa.Float(), nullable=True),
            sa.Column("error_budget_minutes", sa.Float(), nullable=True),
            sa.ForeignKeyConstraint(
                ["incident_id"],
                ["incident.id"],
            ),
            sa.PrimaryKeyConstraint("incident_id", "error_class"),
        )
        op.create_index(
            "ix_by_class_day",
            "incident_by_class",
            ["started_day", "error_class", "error_budget_minutes", "ttd_seconds"],
            unique=False,
        )
        op.create_index(
            "ix_by_class_detection",
            "incident_by_class",
            ["error_class", "ttd_seconds", "started_day"],
            unique=False,
        )
        op.create_index(
            "ix_by_class_mtta_month",
            "incident_by_class",
            [
                "error_class",
                "started_month",
                "tta_seconds",
                "acknowledged_at",
                "started_day",
                "service",
            ],
            unique=False,
        )
        op.create_index(
            "ix_by_class_mtta_quarter",
            "incident_by_class",
            [
                "error_class",
                "started_quarter",
                "tta_seconds",
                "acknowledged_at",
                "started_day",
                "service",
            ],
            unique=False,
        )
        op.create_index(
            "ix_by_class_mtta_week",
            "incident_by_class",
            [
                "error_class",
                "started_week",
                "tta_seconds",
                "acknowledged_at",
                "started_day",
                "service",
            ],
            unique=False,
        )
        op.create_index(
            "ix_by_class_mttd_month",
            "incident_by_class",
            [
                "error_class",
                "started_month",
                "ttd_seconds",
                "detected_at",
                "started_day",
                "service",
            ],
            unique=False,
        )
        op.create_index(
            "ix_by_class_mttd_quarter",
            "incident_by_class",
            [
                "error_class",
                "started_quarter",
                "ttd_seconds",
                "detected_at",
                "started_day",
                "service",
            ],
            unique=False,
        )
        op.create_index(
            "ix_by_class_mttd_week",
            "incident_by_class",
            ["error_class", "started_week", "ttd_seconds", "detected_at", "started_day", "service"],
            unique=False,
        )
        op.create_index(
            "ix_by_class_mttr_month",
            "incident_by_class",
            [
                "error_class",
                "started_month",
                "ttr_seconds",
                "resolved_at",
                "started_day",
                "service",
            ],
            unique=False,
        )
        op.create_index(
            "ix_by_class_mttr_quarter",
            "incident_by_class",
            [
                "error_class",
                "started_quarter",
                "ttr_seconds",
                "resolved_at",
                "started_day",
                "service",
            ],
            unique=False,
        )
        op.create_index(
            "ix_by_class_mttr_week",
            "incident_by_class",
            ["error_class", "started_week", "ttr_seconds", "resolved_at", "started_day", "service"],
            unique=False,
        )
        op.create_index(
            "ix_by_class_totals",
            "incident_by_class",
            ["service", "error_class", "ttr_seconds", "error_budget_minutes"],
            unique=False,
        )
    if "postmortem_link" not in existing:
        op.create_table(
            "postmortem_link",
            sa.Column("postmortem_id", AutoString(length=128), nullable=False),
            sa.Column("kind", AutoString(length=32), nullable=False),
            sa.Column("value", AutoString(), nullable=False),
            sa.ForeignKeyConstraint(
                ["postmortem_id"],
                ["postmortem.id"],
            ),
            sa.PrimaryKeyConstraint("postmortem_id", "kind", "value"),
        )
        op.create_index("ix_link_kind_value", "postmortem_link", ["kind", "value"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_link_kind_value", table_name="postmortem_link")
    op.drop_table("postmortem_link")
    op.drop_index("ix_by_class_totals", table_name="incident_by_class")
    op.drop_index("ix_by_class_mttr_week", table_name="incident_by_class")
    op.drop_index("ix_by_class_mttr_quarter", table_name="incident_by_class")
    op.drop_index("ix_by_class_mttr_month", table_name="incident_by_class")
    op.drop_index("ix_by_class_mttd_week", table_name="incident_by_class")
    op.drop_index("ix_by_class_mttd_quarter", table_name="incident_by_class")
    op.drop_index("ix_by_class_mttd_month", table_name="incident_by_class")
    op.drop_index("ix_by_class_mtta_week", table_name="incident_by_class")
    op.drop_index("ix_by_class_mtta_quarter", table_name="incident_by_class")
    op.drop_index("ix_by_class_mtta_month", table_name="incident_by_class")
    op.drop_index("ix_by_class_detection", table_name="incident_by_class")
    op.drop_index("ix_by_class_day", table_name="incident_by_class")
    op.drop_table("incident_by_class")
    op.drop_index("ix_ref_source_ref", table_name="external_ref")
    op.drop_table("external_ref")
    op.drop_index(op.f("ix_chunk_content_hash"), table_name="chunk")
    op.drop_table("chunk")
    op.drop_index(op.f("ix_action_item_status"), table_name="action_item")
    op.drop_index(op.f("ix_action_item_owner"), table_name="action_item")
    op.drop_index(op.f("ix_action_item_due"), table_name="action_item")
    op.drop_table("action_item")
    op.drop_table("postmortem_history")
    op.drop_index(op.f("ix_postmortem_path"), table_name="postmortem")
    op.drop_index(op.f("ix_postmortem_date"), table_name="postmortem")
    op.drop_table("postmortem")
    op.drop_table("pml_meta")
    op.drop_index(op.f("ix_near_miss_group_key"), table_name="near_miss")
    op.drop_index(op.f("ix_near_miss_date"), table_name="near_miss")
    op.drop_table("near_miss")
    op.drop_table("ingest_problem")
    op.drop_index("ix_incident_source_id", table_name="incident")
    op.drop_index("ix_incident_postmortem_ref", table_name="incident")
    op.drop_index(op.f("ix_incident_postmortem_id"), table_name="incident")
    op.drop_index("ix_incident_mttr_week", table_name="incident")
    op.drop_index("ix_incident_mttr_quarter", table_name="incident")
    op.drop_index("ix_incident_mttr_month", table_name="incident")
    op.drop_index("ix_incident_mttd_week", table_name="incident")
    op.drop_index("ix_incident_mttd_quarter", table_name="incident")
    op.drop_index("ix_incident_mttd_month", table_name="incident")
    op.drop_index("ix_incident_mtta_week", table_name="incident")
    op.drop_index("ix_incident_mtta_quarter", table_name="incident")
    op.drop_index("ix_incident_mtta_month", table_name="incident")
    op.drop_index("ix_incident_day_service", table_name="incident")
    op.drop_index("ix_incident_budget", table_name="incident")
    op.drop_table("incident")
    op.drop_table("embedding")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_token")
    op.drop_table("alert")
