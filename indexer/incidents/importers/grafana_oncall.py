"""Grafana OnCall / Grafana Cloud IRM: alert groups from the API or its outgoing webhooks.

- `GET /api/v1/alert_groups/` pages (`results`, `next`): each alert group
  with `created_at`, `acknowledged_at`, `resolved_at`, `title`, `state`.
- An outgoing webhook delivery (`event`, `alert_group`, `integration`,
  `alert_payload`) as `indexer.incidents.intake` translates it: the alert
  group with the integration and the first alert's payload beside it.

An alert group is an incident page: its creation is the start and the
detection. The service is the alert group's `service` label, else the first
alert's `service` (or `job`) label, else the integration's name, else its
team; each can be a taxonomy alias. Severity is a `severity`, `priority` or
`urgency` label.
"""

from __future__ import annotations

from typing import Any

from indexer.incidents.importers._common import (
    Options,
    Parsed,
    parse_records,
    service_id,
    service_keys,
    severity,
    text,
    timestamp,
)
from indexer.incidents.model import Incident

SOURCE = "grafana-oncall"


def parse(data: bytes, options: Options | None = None) -> Parsed:
    keys = ("results", "alert_groups")
    return parse_records(data, SOURCE, keys, "Grafana OnCall alert groups", _incident)


def _labels(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _keys(record: dict[str, Any]) -> tuple[str, ...]:
    payload = _labels(record.get("alert_payload"))
    alert = {**_labels(payload.get("commonLabels")), **_labels(payload.get("labels"))}
    integration = _labels(record.get("integration"))
    return service_keys(
        _labels(record.get("labels")).get("service"),
        alert.get("service"),
        alert.get("job"),
        integration.get("name"),
        integration.get("team"),
    )


def _severity(record: dict[str, Any]) -> str | None:
    labels = _labels(record.get("labels"))
    for name in ("severity", "priority", "urgency"):
        found = severity(labels.get(name))
        if found is not None:
            return found
    return None


def _incident(record: dict[str, Any]) -> Incident:
    identifier = text(record.get("id"), "id", required=True)
    started = timestamp(record.get("created_at"), "created_at", required=True)
    assert identifier is not None and started is not None
    keys = _keys(record)
    return Incident(
        source=SOURCE,
        source_id=identifier,
        started_at=started,
        detected_at=started,
        acknowledged_at=timestamp(record.get("acknowledged_at"), "acknowledged_at"),
        resolved_at=timestamp(record.get("resolved_at"), "resolved_at"),
        title=text(record.get("title"), "title") or "",
        service=(service_id(keys[0]) or "unknown") if keys else "unknown",
        service_keys=keys,
        severity=_severity(record),
        raw=record,
        event_at=timestamp(record.get("event_time"), "event.time"),
    )
