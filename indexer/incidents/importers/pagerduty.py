"""PagerDuty: `GET /incidents` (REST API v2) and the Analytics raw-incidents export.

REST v2 records carry `created_at`, `resolved_at` (or `last_status_change_at`
once resolved), `acknowledgements[].at`, `service.summary` and `priority`.
Analytics records (`POST /analytics/raw/incidents`, under "data") carry
`created_at`, `resolved_at`, `seconds_to_first_ack`, `service_name` and
`priority_name`. The page is both the start and the detection: PagerDuty
knows nothing earlier.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from indexer.incidents.importers._common import (
    Parsed,
    RowError,
    each,
    load_json,
    plus_seconds,
    records,
    service_id,
    severity,
    tagged,
    text,
    timestamp,
)
from indexer.incidents.model import Incident

SOURCE = "pagerduty"


def parse(data: bytes) -> Parsed:
    document = load_json(data)
    if isinstance(document, dict) and "data" in document:
        return each(records(document, ("data",), "an Analytics export"), _analytics)
    items = records(document, ("incidents", "incident"), "PagerDuty incidents")
    return each(items, _rest)


def _first_ack(record: dict[str, Any]) -> dt.datetime | None:
    acks = record.get("acknowledgements")
    if not isinstance(acks, list):
        return None
    times = [
        timestamp(ack.get("at"), "acknowledgements.at") for ack in acks if isinstance(ack, dict)
    ]
    return min((t for t in times if t is not None), default=None)


def _resolved(record: dict[str, Any]) -> Any:
    if record.get("resolved_at"):
        return record["resolved_at"]
    if record.get("status") == "resolved":
        return record.get("last_status_change_at")
    return None


def _summary(value: Any) -> Any:
    return value.get("summary") if isinstance(value, dict) else None


def _rest(record: dict[str, Any]) -> Incident:
    identifier = text(record.get("id"), "id", required=True)
    started = timestamp(record.get("created_at"), "created_at", required=True)
    assert identifier is not None and started is not None
    return Incident(
        source=SOURCE,
        source_id=identifier,
        started_at=started,
        detected_at=started,
        acknowledged_at=_first_ack(record),
        resolved_at=timestamp(_resolved(record), "resolved_at"),
        title=text(record.get("title") or record.get("summary"), "title") or "",
        service=service_id(_summary(record.get("service"))) or "unknown",
        severity=severity(_summary(record.get("priority"))),
        error_class=tagged(_tag_names(record), "error_class"),
        raw=record,
    )


def _tag_names(record: dict[str, Any]) -> list[str]:
    tags = record.get("tags")
    if not isinstance(tags, list):
        return []
    return [str(tag.get("label") if isinstance(tag, dict) else tag) for tag in tags]


def _analytics(record: dict[str, Any]) -> Incident:
    identifier = text(record.get("id"), "id", required=True)
    started = timestamp(record.get("created_at"), "created_at", required=True)
    assert identifier is not None and started is not None
    if "service_name" not in record and "service_id" not in record:
        raise RowError("no service_name or service_id: not an Analytics raw-incident record")
    return Incident(
        source=SOURCE,
        source_id=identifier,
        started_at=started,
        detected_at=started,
        acknowledged_at=plus_seconds(
            started, record.get("seconds_to_first_ack"), "seconds_to_first_ack"
        ),
        resolved_at=timestamp(record.get("resolved_at"), "resolved_at"),
        title=text(record.get("description"), "description") or "",
        service=service_id(record.get("service_name")) or "unknown",
        severity=severity(record.get("priority_name")),
        raw=record,
    )
