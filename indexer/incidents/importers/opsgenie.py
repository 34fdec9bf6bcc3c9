"""Opsgenie: the alerts and incidents list exports (`GET /v2/alerts`, `GET /v1/incidents`).

Alerts carry `createdAt` and a `report` with `ackTime` and `closeTime` in
milliseconds after creation. Incidents carry `createdAt`, a `status` and
`updatedAt`, which is the resolution time once the status is resolved or
closed. The service comes from `details.service`, a `service:<id>` tag or
the first of `impactedServices`; the error class from an `error_class:<id>`
tag.
"""

from __future__ import annotations

from typing import Any

from indexer.incidents.importers._common import (
    Parsed,
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

SOURCE = "opsgenie"
_DONE = ("closed", "resolved")


def parse(data: bytes) -> Parsed:
    items = records(load_json(data), ("data",), "Opsgenie alerts or incidents")
    return each(items, _incident)


def _milliseconds(report: Any, key: str) -> Any:
    """Opsgenie reports durations in milliseconds; anything else is passed on to be refused."""
    value = report.get(key) if isinstance(report, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value / 1000
    return value


def _service(record: dict[str, Any]) -> str:
    details = record.get("details")
    impacted = record.get("impactedServices")
    candidates = [
        details.get("service") if isinstance(details, dict) else None,
        tagged(record.get("tags"), "service"),
        impacted[0] if isinstance(impacted, list) and impacted else None,
    ]
    ids = [service_id(c) for c in candidates]
    return next((i for i in ids if i), "unknown")


def _incident(record: dict[str, Any]) -> Incident:
    identifier = text(record.get("id"), "id", required=True)
    started = timestamp(record.get("createdAt"), "createdAt", required=True)
    assert identifier is not None and started is not None
    report = record.get("report")
    resolved = plus_seconds(started, _milliseconds(report, "closeTime"), "report.closeTime")
    if resolved is None and record.get("status") in _DONE and "report" not in record:
        resolved = timestamp(record.get("updatedAt"), "updatedAt")
    return Incident(
        source=SOURCE,
        source_id=identifier,
        started_at=started,
        detected_at=started,
        acknowledged_at=plus_seconds(started, _milliseconds(report, "ackTime"), "report.ackTime"),
        resolved_at=resolved,
        title=text(record.get("message"), "message") or "",
        service=_service(record),
        severity=severity(record.get("priority")),
        error_class=tagged(record.get("tags"), "error_class"),
        raw=record,
    )
