"""FireHydrant: the incidents list (`GET /v1/incidents`) with its milestones.

Each milestone (`started`, `detected`, `acknowledged`, `mitigated`,
`resolved`, ...) has an `occurred_at`; those become the canonical timestamps,
with the incident's own `started_at` as the fallback start. The service is
the first of `services[].name` or of the service `impacts`; the error class
is the `error_class` label or an `error_class:<id>` tag.
"""

from __future__ import annotations

from typing import Any

from indexer.incidents.importers._common import (
    Parsed,
    RowError,
    each,
    load_json,
    records,
    service_id,
    severity,
    tagged,
    text,
    timestamp,
)
from indexer.incidents.model import Incident

SOURCE = "firehydrant"


def parse(data: bytes) -> Parsed:
    return each(records(load_json(data), ("data",), "FireHydrant incidents"), _incident)


def _milestones(record: dict[str, Any]) -> dict[str, Any]:
    milestones = record.get("milestones") or []
    if not isinstance(milestones, list):
        raise RowError("milestones is not a list")
    result: dict[str, Any] = {}
    for milestone in milestones:
        if isinstance(milestone, dict) and milestone.get("type"):
            result.setdefault(str(milestone["type"]), milestone.get("occurred_at"))
    return result


def _service(record: dict[str, Any]) -> str:
    names: list[Any] = []
    for entry in record.get("services") or []:
        names.append(entry.get("name") if isinstance(entry, dict) else None)
    for entry in record.get("impacts") or []:
        if isinstance(entry, dict) and entry.get("type") == "service":
            impact = entry.get("impact")
            names.append(impact.get("name") if isinstance(impact, dict) else None)
    ids = [service_id(n) for n in names]
    return next((i for i in ids if i), "unknown")


def _error_class(record: dict[str, Any]) -> str | None:
    labels = record.get("labels")
    if isinstance(labels, dict) and labels.get("error_class"):
        return str(labels["error_class"])
    return tagged(record.get("tag_list"), "error_class")


def _incident(record: dict[str, Any]) -> Incident:
    identifier = text(record.get("id"), "id", required=True)
    stones = _milestones(record)
    started = timestamp(
        stones.get("started") or record.get("started_at") or record.get("created_at"),
        "started milestone",
        required=True,
    )
    assert identifier is not None and started is not None
    return Incident(
        source=SOURCE,
        source_id=identifier,
        started_at=started,
        detected_at=timestamp(stones.get("detected"), "detected milestone"),
        acknowledged_at=timestamp(stones.get("acknowledged"), "acknowledged milestone"),
        mitigated_at=timestamp(stones.get("mitigated"), "mitigated milestone"),
        resolved_at=timestamp(stones.get("resolved"), "resolved milestone"),
        title=text(record.get("name"), "name") or "",
        service=_service(record),
        severity=severity(record.get("severity")),
        error_class=_error_class(record),
        raw=record,
    )
