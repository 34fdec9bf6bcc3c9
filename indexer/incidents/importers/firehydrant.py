"""FireHydrant: the incidents list (`GET /v1/incidents`) with its milestones.

Milestones live in `lifecycle_phases[].milestones[]` (`slug`, `occurred_at`);
the older `milestones[]` (`type`, `occurred_at`) is deprecated but still
sent, often empty, so both are read and the lifecycle wins. The milestones
`started`, `detected`, `acknowledged`, `mitigated` and `resolved` become the
canonical timestamps, with the incident's own `started_at` as the fallback
start. The service is the first of `services[].name` or of the service
`impacts`; the error class is the `error_class` label or an
`error_class:<id>` tag. Pages may be concatenated or one per line; a saved
webhook delivery (`data.incident`) is read as its incident. Times may be
written Ruby-style (`2023-07-25 13:34:49 UTC`, as the webhooks send them) and
the severity may be an object (`{"slug": "SEV2", ...}`).
"""

from __future__ import annotations

from typing import Any

from indexer.incidents.importers._common import (
    Options,
    Parsed,
    RowError,
    documents,
    each,
    records,
    refuse_foreign,
    service_id,
    service_keys,
    severity,
    tagged,
    text,
    timestamp,
)
from indexer.incidents.model import Incident

SOURCE = "firehydrant"


def parse(data: bytes, options: Options | None = None) -> Parsed:
    parsed, position = Parsed(), 0
    for document in documents(data):
        refuse_foreign(document, SOURCE, "FireHydrant incidents")
        inner = document.get("data") if isinstance(document, dict) else None
        if isinstance(inner, dict) and isinstance(inner.get("incident"), dict):
            document = {"data": [inner["incident"]]}  # a saved webhook delivery
        items = records(document, ("data",), "FireHydrant incidents")
        each(items, _incident, parsed, position)
        position += len(items)
    return parsed


def _milestones(record: dict[str, Any]) -> dict[str, Any]:
    """Milestone slug -> occurred_at, from the lifecycle phases, else the deprecated list."""
    result: dict[str, Any] = {}
    phases = record.get("lifecycle_phases") or []
    if not isinstance(phases, list):
        raise RowError("lifecycle_phases is not a list")
    for phase in phases:
        stones = phase.get("milestones") if isinstance(phase, dict) else None
        for milestone in stones if isinstance(stones, list) else []:
            if (
                isinstance(milestone, dict)
                and milestone.get("slug")
                and milestone.get("occurred_at")
            ):
                result.setdefault(str(milestone["slug"]), milestone["occurred_at"])
    milestones = record.get("milestones") or []
    if not isinstance(milestones, list):
        raise RowError("milestones is not a list")
    for milestone in milestones:
        if isinstance(milestone, dict) and milestone.get("type"):
            result.setdefault(str(milestone["type"]), milestone.get("occurred_at"))
    return result


def _keys(record: dict[str, Any]) -> tuple[str, ...]:
    """Service names first, then their FireHydrant ids (both can be taxonomy aliases)."""
    found: list[dict[str, Any]] = []
    for entry in record.get("services") or []:
        found.append(entry if isinstance(entry, dict) else {})
    for entry in record.get("impacts") or []:
        if isinstance(entry, dict) and entry.get("type") == "service":
            impact = entry.get("impact")
            found.append(impact if isinstance(impact, dict) else {})
    return service_keys(*(e.get("name") for e in found), *(e.get("id") for e in found))


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
    keys = _keys(record)
    return Incident(
        source=SOURCE,
        source_id=identifier,
        started_at=started,
        detected_at=timestamp(stones.get("detected"), "detected milestone"),
        acknowledged_at=timestamp(stones.get("acknowledged"), "acknowledged milestone"),
        mitigated_at=timestamp(stones.get("mitigated"), "mitigated milestone"),
        resolved_at=timestamp(stones.get("resolved"), "resolved milestone"),
        title=text(record.get("name"), "name") or "",
        service=(service_id(keys[0]) or "unknown") if keys else "unknown",
        service_keys=keys,
        severity=severity(record.get("severity")),
        error_class=_error_class(record),
        raw=record,
        event_at=timestamp(record.get("updated_at"), "updated_at"),
    )
