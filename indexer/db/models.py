"""Every database table, in one place.

Postmortem tables (`postmortem`, its links, action items, passages, history)
are derived from the library and rebuilt from it; incidents, alerts,
near-misses, tokens and the audit log are the library's own records. Alembic
(`indexer/db/migrations`) compares this module's metadata with the migrations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint, true
from sqlalchemy.types import JSON, DateTime, LargeBinary
from sqlmodel import Field, SQLModel


class PostmortemRow(SQLModel, table=True):
    __tablename__ = "postmortem"

    id: str = Field(primary_key=True, max_length=128)
    path: str = Field(index=True)
    content_hash: str = Field(max_length=64)
    title: str
    date: dt.date = Field(index=True)
    status: str = Field(default="published", max_length=16)
    visibility: str = Field(default="internal", max_length=16)
    severity: str | None = Field(default=None, max_length=8)
    type: str | None = Field(default=None, max_length=16)
    owner: str | None = None
    trigger: str | None = None
    detection_method: str | None = Field(default=None, max_length=32)
    detection_alert: str | None = None
    started_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    detected_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    acknowledged_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    mitigated_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    resolved_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    customer_facing: bool | None = None
    impact_summary: str | None = None
    slo: str | None = None
    error_budget_minutes: float | None = None
    mitigation_maturity: str | None = Field(default=None, max_length=16)
    duplicate_of: str | None = None
    body: str = ""
    front_matter: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    indexed_at: dt.datetime = Field(
        default_factory=lambda: dt.datetime.now(dt.UTC),
        sa_column=Column(DateTime(timezone=True)),
    )


class PostmortemLink(SQLModel, table=True):
    """A postmortem's vocabulary values: services, error classes, factors, tags, ..."""

    __tablename__ = "postmortem_link"
    __table_args__ = (Index("ix_link_kind_value", "kind", "value"),)

    postmortem_id: str = Field(foreign_key="postmortem.id", primary_key=True, max_length=128)
    kind: str = Field(primary_key=True, max_length=32)
    value: str = Field(primary_key=True)


class ExternalRef(SQLModel, table=True):
    """Ids of the incident in other tools (join keys for incident imports)."""

    __tablename__ = "external_ref"
    __table_args__ = (Index("ix_ref_source_ref", "source", "ref"),)

    postmortem_id: str = Field(foreign_key="postmortem.id", primary_key=True, max_length=128)
    source: str = Field(primary_key=True, max_length=32)
    ref: str = Field(primary_key=True)


class ActionItemRow(SQLModel, table=True):
    __tablename__ = "action_item"

    postmortem_id: str = Field(foreign_key="postmortem.id", primary_key=True, max_length=128)
    item_id: str = Field(primary_key=True, max_length=64)
    position: int = 0
    title: str
    type: str | None = Field(default=None, max_length=16)
    priority: str | None = Field(default=None, max_length=4)
    owner: str | None = Field(default=None, index=True)
    due: dt.date | None = Field(default=None, index=True)
    status: str = Field(default="open", max_length=16, index=True)
    ticket: str | None = None


class ChunkRow(SQLModel, table=True):
    """A passage of a postmortem, embedded for semantic search (see indexer/search/_passages.py)."""

    __tablename__ = "chunk"

    postmortem_id: str = Field(foreign_key="postmortem.id", primary_key=True, max_length=128)
    ordinal: int = Field(primary_key=True)
    heading: str = ""
    text: str
    content_hash: str = Field(max_length=64, index=True)


class EmbeddingRow(SQLModel, table=True):
    """Vector cache keyed by model and passage hash: unchanged text is never embedded twice."""

    __tablename__ = "embedding"

    model: str = Field(primary_key=True, max_length=200)
    content_hash: str = Field(primary_key=True, max_length=64)
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class IngestProblem(SQLModel, table=True):
    """Files the last index run could not read, so the API can show them."""

    __tablename__ = "ingest_problem"

    path: str = Field(primary_key=True)
    line: int = 1
    message: str
    # The file might be a restricted postmortem (its visibility could not be read
    # as `internal`): only admins see the problem, since even its path may tell.
    restricted: bool = Field(default=True, sa_column_kwargs={"server_default": true()})


class MetaRow(SQLModel, table=True):
    __tablename__ = "pml_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str


class HistoryRow(SQLModel, table=True):
    """Git history of one postmortem file, keyed by its path (see indexing/githistory.py)."""

    __tablename__ = "postmortem_history"

    path: str = Field(primary_key=True)
    repo_path: str
    created_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    authors: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    commit: str = Field(max_length=64)


UNKNOWN_SERVICE = "unknown"


# metric -> (duration column, the timestamp that ends the duration)
DURATIONS = {
    "mttr": ("ttr_seconds", "resolved_at"),
    "mtta": ("tta_seconds", "acknowledged_at"),
    "mttd": ("ttd_seconds", "detected_at"),
}


def _duration_indexes(prefix: str, *leading: str) -> list[Index]:
    """Covering indexes that make a period's k-th shortest duration an index walk, not a sort.

    indexer.reports.metrics reads medians and p90s with ORDER BY duration LIMIT 1
    OFFSET k inside one week, month or quarter; every other column it
    filters on is in the index too, so the table is never read.
    """
    return [
        Index(f"{prefix}_{metric}_{period}", *leading, f"started_{period}", duration, end,
              "started_day", "service")
        for metric, (duration, end) in DURATIONS.items()
        for period in ("week", "month", "quarter")
    ]  # fmt: skip


class IncidentRow(SQLModel, table=True):
    __tablename__ = "incident"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_incident_source"),
        Index("ix_incident_day_service", "started_day", "service", "started_quarter"),
        Index("ix_incident_source_id", "source_id"),
        Index("ix_incident_postmortem_ref", "postmortem_ref"),
        Index(
            "ix_incident_budget", "started_month", "service", "started_day", "error_budget_minutes"
        ),
        *_duration_indexes("ix_incident"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    source_id: str = Field(max_length=128)
    title: str = ""
    service: str = Field(default=UNKNOWN_SERVICE, max_length=128)
    severity: str | None = Field(default=None, max_length=8)
    started_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    detected_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    acknowledged_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    mitigated_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    resolved_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    error_class: str | None = Field(default=None, max_length=128)
    error_budget_minutes: float | None = None
    postmortem_ref: str | None = Field(default=None, max_length=128)
    postmortem_id: str | None = Field(default=None, max_length=128, index=True)
    # Derived at write time (UTC) so reports group and filter without date functions,
    # which SQLite and PostgreSQL spell differently.
    started_day: dt.date
    started_week: str = Field(max_length=8)
    started_month: str = Field(max_length=7)
    started_quarter: str = Field(max_length=7)
    ttd_seconds: float | None = None
    tta_seconds: float | None = None
    ttr_seconds: float | None = None
    raw: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # When the vendor says the stored record was true (a webhook event's own time): an
    # older event, replayed or late, may add missing times but never roll the rest back.
    event_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class IncidentClass(SQLModel, table=True):
    """Derived: one row per incident and error class it counts under (see module docstring).

    The incident's service, periods, durations and end times are copied in,
    so per-class trends read this table and its indexes without a join.
    """

    __tablename__ = "incident_by_class"
    __table_args__ = (
        Index(
            "ix_by_class_day", "started_day", "error_class", "error_budget_minutes", "ttd_seconds"
        ),
        Index(
            "ix_by_class_totals", "service", "error_class", "ttr_seconds", "error_budget_minutes"
        ),
        Index("ix_by_class_detection", "error_class", "ttd_seconds", "started_day"),
        *_duration_indexes("ix_by_class", "error_class"),
    )

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    error_class: str = Field(primary_key=True, max_length=128)
    service: str = Field(max_length=128)
    started_day: dt.date
    started_week: str = Field(max_length=8)
    started_month: str = Field(max_length=7)
    started_quarter: str = Field(max_length=7)
    detected_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    acknowledged_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    resolved_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    ttd_seconds: float | None = None
    tta_seconds: float | None = None
    ttr_seconds: float | None = None
    error_budget_minutes: float | None = None


class AlertRow(SQLModel, table=True):
    __tablename__ = "alert"

    fingerprint: str = Field(primary_key=True, max_length=128)
    starts_key: str = Field(primary_key=True, max_length=40)
    starts_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ends_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    status: str = Field(max_length=16)
    alertname: str = ""
    service: str = Field(default="unknown", max_length=128)
    labels: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    annotations: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    near_miss_id: int | None = None


class NearMissRow(SQLModel, table=True):
    __tablename__ = "near_miss"

    id: int | None = Field(default=None, primary_key=True)
    date: dt.date = Field(index=True)
    service: str = Field(max_length=128)
    what_failed: str
    caught_by: str
    corrective_action: str | None = None
    group_key: str = Field(index=True)
    source: str = Field(default="manual", max_length=16)
    alert_fingerprint: str | None = Field(default=None, max_length=128)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    token_hash: str = Field(max_length=64, unique=True)
    groups: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    actor: str = Field(max_length=256)
    action: str = Field(max_length=64)
    target: str = Field(max_length=2048)
    address: str | None = Field(default=None, max_length=64)


class NeighbourList(SQLModel, table=True):
    """A postmortem's stored related list: for which version and model it was computed.

    Derived data (`indexer/search/_neighbours.py`): computed over the postmortems
    everyone may read, at index time, after the vectors are updated.
    """

    __tablename__ = "neighbour_list"

    postmortem_id: str = Field(primary_key=True, max_length=128)
    content_hash: str = Field(max_length=64)
    model: str = Field(max_length=200)
    # Document cosine of the last candidate taken by vector: a postmortem at least
    # this close would be a candidate, so a change to it may change this list.
    cutoff: float


class NeighbourRow(SQLModel, table=True):
    """One item of a stored related list, best first."""

    __tablename__ = "neighbour"

    postmortem_id: str = Field(primary_key=True, max_length=128)
    rank: int = Field(primary_key=True)
    other_id: str = Field(max_length=128, index=True)
    score: float
    # The passage of the other postmortem closest to any passage of this one.
    ordinal: int | None = None
    similarity: float | None = None


class IntakeDelivery(SQLModel, table=True):
    """One webhook delivery as received, stored before it is processed (`indexer.intake`).

    A delivery with a wrong signature keeps no body (anyone can send one);
    every other keeps its exact bytes, so it can be replayed after a fix.
    """

    __tablename__ = "intake_delivery"
    __table_args__ = (Index("ix_intake_delivery_outcome", "outcome", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    received_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    vendor: str = Field(max_length=32)
    event: str = Field(default="", max_length=128)
    headers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    size: int = 0
    signature: str = Field(max_length=16)  # valid | invalid
    outcome: str = Field(default="pending", max_length=16)
    detail: str = ""
    attempts: int = 0
    processed_at: dt.datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )


class OncallDelivery(SQLModel, table=True):
    """One channel's message of an incident's precedents (indexer.oncall.delivery).

    The unique key (channel, source, source_id) makes a redelivered webhook,
    a restart or a second replica send nothing twice.
    """

    __tablename__ = "oncall_delivery"
    __table_args__ = (
        UniqueConstraint("channel", "source", "source_id", name="uq_oncall_delivery"),
        Index("ix_oncall_delivery_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=64)
    source: str = Field(max_length=32)
    source_id: str = Field(max_length=128)
    alert: str = Field(default="", max_length=500)
    status: str = Field(default="pending", max_length=16)  # pending, sent or failed
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    sent_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_error: str | None = Field(default=None, max_length=500)
    message: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
