"""Vendor webhook payloads, each in its vendor's shape, filled with one alert (dev set, tests).

Shapes: Alertmanager webhook v4 (prometheus.io docs), PagerDuty v3 webhook
(the recorded fixture in tests/fixtures/vendors), Opsgenie outgoing webhook
(`action` + `alert`), FireHydrant incident webhook (`data.incident`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VENDORS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "vendors"


def alertmanager(
    name: str, labels: dict[str, str], summary: str, description: str = "", status: str = "firing"
) -> bytes:
    """An Alertmanager v4 webhook body with one alert (as in Alertmanager's docs)."""
    every = {"alertname": name, **labels}
    alert = {
        "status": status,
        "labels": every,
        "annotations": {"summary": summary, "description": description},
        "startsAt": "2026-12-01T03:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": "",
    }
    payload = {
        "version": "4",
        "groupKey": '{}:{alertname="' + name + '"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "pml",
        "groupLabels": {"alertname": name},
        "commonLabels": every,
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager:9093",
        "alerts": [alert],
    }
    return json.dumps(payload).encode()


def pagerduty(title: str, service: str, incident_id: str = "PSB0001") -> bytes:
    """A PagerDuty v3 webhook event (the recorded fixture) with this title and service."""
    event: dict[str, Any] = json.loads(
        (VENDORS / "pagerduty_webhook_v3_incident.json").read_bytes()
    )
    data = event["event"]["data"]
    data["id"], data["title"] = incident_id, title
    data["service"]["summary"] = service
    event["event"]["event_type"] = "incident.triggered"
    return json.dumps(event).encode()


def opsgenie(
    message: str,
    description: str = "",
    tags: list[str] | None = None,
    details: dict[str, str] | None = None,
    alert_id: str = "og-0001",
) -> bytes:
    """An Opsgenie outgoing webhook body for a `Create` action."""
    body = {
        "action": "Create",
        "alert": {
            "alertId": alert_id,
            "message": message,
            "description": description,
            "tags": tags or [],
            "details": details or {},
            "tinyId": "42",
            "entity": "",
            "alias": alert_id,
            "createdAt": 1764558000000,
            "updatedAt": 1764558000000,
            "username": "Alert API",
            "priority": "P2",
            "teams": [],
            "source": "Prometheus",
        },
        "source": {"name": "", "type": "api"},
        "integrationName": "Webhook",
        "integrationType": "Webhook",
    }
    return json.dumps(body).encode()


def firehydrant(
    name: str, services: list[str], summary: str = "", incident_id: str = "fh-1"
) -> bytes:
    """A FireHydrant incident webhook (`data.incident`)."""
    incident = {
        "id": incident_id,
        "name": name,
        "summary": summary,
        "description": "",
        "created_at": "2026-12-01T03:00:00Z",
        "started_at": "2026-12-01T03:00:00Z",
        "services": [{"id": f"svc-{s}", "name": s} for s in services],
        "tag_list": [],
        "milestones": [{"type": "started", "occurred_at": "2026-12-01T03:00:00Z"}],
    }
    return json.dumps({"data": {"incident": incident}, "event": {"operation": "CREATED"}}).encode()


def from_case(case: dict[str, Any]) -> bytes:
    """The payload of one dev-set case (benchmarks/seen_before/dev.yaml) in its vendor's shape."""
    source = case["source"]
    if source == "alertmanager":
        return alertmanager(
            case["alertname"],
            case.get("labels") or {},
            case.get("summary", ""),
            case.get("description", ""),
        )
    if source == "pagerduty":
        return pagerduty(case["title"], case["service"], incident_id=case["id"])
    if source == "opsgenie":
        return opsgenie(
            case["message"],
            case.get("description", ""),
            case.get("tags"),
            case.get("details"),
            alert_id=case["id"],
        )
    if source == "firehydrant":
        return firehydrant(case["name"], case["services"], case.get("summary", ""), case["id"])
    raise ValueError(f"unknown source {source!r} in case {case['id']}")


def text_of(case: dict[str, Any]) -> str:
    """The alert's text as a person would paste it into the search box (the baseline's query)."""
    fields = ("alertname", "summary", "description", "title", "message", "name")
    return " ".join(str(case[field]) for field in fields if case.get(field))
