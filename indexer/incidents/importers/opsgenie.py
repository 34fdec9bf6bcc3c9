"""Opsgenie: the alerts and incidents list exports (`GET /v2/alerts`, `GET /v1/incidents`).

Pages may be concatenated or one per line. Times are ISO 8601 or epoch
milliseconds (Opsgenie's webhooks and some exports use those).

Alerts carry `createdAt` and a `report` with `ackTime` and `closeTime` in
milliseconds after creation. Incidents carry `createdAt` and a `status`;
their resolve time comes only from a resolve field (`resolvedAt`,
`closedAt`, `impactEndDate` or `report.closeTime`) - never from `updatedAt`,
which moves on every later edit (a note, a tag) and can be weeks late. A
resolved incident without one is stored unresolved, with a warning.

The service comes from `details.service`, a `service:<id>` tag or
`impactedServices` (Opsgenie service ids: list them as taxonomy aliases);
the error class from an `error_class:<id>` tag.

Jira Service Management's operations (Opsgenie's successor) sends and lists
the same alerts: `parse_jsm` reads them as source `jsm`, from its outgoing
webhook or its REST API's pages (`values`, `links.next`).
"""

from __future__ import annotations

from typing import Any

from indexer.incidents.importers._common import (
    Options,
    Parsed,
    parse_records,
    plus_seconds,
    service_id,
    service_keys,
    severity,
    tagged,
    text,
    timestamp,
)
from indexer.incidents.model import Incident

SOURCE = "opsgenie"
_DONE = ("closed", "resolved")
_RESOLVE_FIELDS = ("resolvedAt", "closedAt", "impactEndDate")


def parse(data: bytes, options: Options | None = None) -> Parsed:
    return _parse(data, options or Options(), SOURCE)


def parse_jsm(data: bytes, options: Options | None = None) -> Parsed:
    """Jira Service Management alerts (webhook bodies as translated, or API pages)."""
    return _parse(data, options or Options(), "jsm")


def _parse(data: bytes, options: Options, source: str) -> Parsed:
    what = "Jira Service Management alerts" if source == "jsm" else "Opsgenie alerts or incidents"
    parsed = parse_records(
        data,
        "opsgenie",
        ("data", "values"),
        what,
        lambda record: _incident(record, options, source),
    )
    for index, incident in parsed.incidents:
        if incident.raw.get("status") in _DONE and incident.resolved_at is None:
            parsed.warnings.append(
                (index, f"{incident.source_id}: {incident.raw['status']} with no resolve time")
            )
    return parsed


def _milliseconds(report: Any, key: str) -> Any:
    """Opsgenie reports durations in milliseconds; anything else is passed on to be refused."""
    value = report.get(key) if isinstance(report, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value / 1000
    return value


def _keys(record: dict[str, Any]) -> tuple[str, ...]:
    """Service names first; without one, the teams the alert is routed to (a team's name
    or id can be a taxonomy alias, for alerts routed by team rather than by service)."""
    details = record.get("details")
    impacted = record.get("impactedServices")
    return service_keys(
        details.get("service") if isinstance(details, dict) else None,
        tagged(record.get("tags"), "service"),
        record.get("serviceId"),
        *(impacted if isinstance(impacted, list) else []),
        *_teams(record),
    )


def _teams(record: dict[str, Any]) -> list[Any]:
    """Team names, then ids: `teams` (names in webhooks, `{"id"}` or `{"name"}` in the
    API), `ownerTeam` / `ownerTeamId`, and the `team` an AddTeam action names."""
    teams = record.get("teams")
    entries = teams if isinstance(teams, list) else []
    names = [e.get("name") if isinstance(e, dict) else e for e in entries]
    ids = [e.get("id") for e in entries if isinstance(e, dict)]
    owner = record.get("ownerTeam")
    return [
        *names,
        record.get("team"),
        owner.get("name") if isinstance(owner, dict) else owner,
        *ids,
        owner.get("id") if isinstance(owner, dict) else None,
        record.get("ownerTeamId"),
    ]


def _incident(record: dict[str, Any], options: Options, source: str = SOURCE) -> Incident:
    identifier = text(record.get("id"), "id", required=True)
    started = timestamp(record.get("createdAt"), "createdAt", required=True, naive=options.timezone)
    assert identifier is not None and started is not None
    report = record.get("report")
    resolved = plus_seconds(started, _milliseconds(report, "closeTime"), "report.closeTime")
    for name in _RESOLVE_FIELDS:
        resolved = resolved or timestamp(record.get(name), name, naive=options.timezone)
    keys = _keys(record)
    return Incident(
        source=source,
        source_id=identifier,
        started_at=started,
        detected_at=started,
        acknowledged_at=plus_seconds(started, _milliseconds(report, "ackTime"), "report.ackTime"),
        resolved_at=resolved,
        title=text(record.get("message"), "message") or "",
        service=(service_id(keys[0]) or "unknown") if keys else "unknown",
        service_keys=keys,
        severity=severity(record.get("priority")),
        error_class=tagged(record.get("tags"), "error_class"),
        raw=record,
        event_at=timestamp(record.get("updatedAt"), "updatedAt", naive=options.timezone),
    )
