"""PagerDuty: REST incidents, log entries, Analytics raw incidents and v3 webhook events.

One file may hold any mix of them, as the API pages them: one document,
several concatenated, or one per line.

- REST v2 `GET /incidents` (`incidents`, or `incident` for one): `created_at`,
  `resolved_at` (or `last_status_change_at` once resolved),
  `acknowledgements[].at`, `service`, `priority.summary`, `urgency`.
- Log entries (`GET /log_entries`, account-wide or `GET /incidents/{id}/log_entries`):
  the only place acknowledge times survive once an incident is resolved (the
  list empties `acknowledgements`). `acknowledge_log_entry` gives the first
  acknowledgement, `resolve_log_entry` the resolution, `trigger_log_entry`
  the start. They merge into the incidents of the same file, or of the
  database (`Incident.partial`), whichever came first.
- Analytics `POST /analytics/raw/incidents` (`data`): naive times in the
  export's `time_zone`, `seconds_to_first_ack`, `service_name`, `priority_name`.
- v3 webhooks (`event`): `event.data` is the incident; `incident.acknowledged`
  and `incident.resolved` date their change with `event.occurred_at`.

The page is both the start and the detection: PagerDuty knows nothing
earlier. Severity is the priority (`P1`, `SEV-2`, ...); without one, the
urgency by `Options.urgency` (default high -> SEV2, low -> SEV4).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from indexer.incidents.importers._common import (
    ImportFormatError,
    Options,
    Parsed,
    RowError,
    documents,
    each,
    plus_seconds,
    refuse_foreign,
    service_id,
    service_keys,
    severity,
    tagged,
    text,
    timestamp,
    zone,
)
from indexer.incidents.model import Incident

SOURCE = "pagerduty"
_EXPECTED = (
    "expected PagerDuty incidents (GET /incidents), log entries (GET /log_entries), "
    "an Analytics export (POST /analytics/raw/incidents) or a v3 webhook event"
)


@dataclass
class _Log:
    """What one incident's log entries say."""

    position: int
    triggered: dt.datetime | None = None
    acknowledged: dt.datetime | None = None
    resolved: dt.datetime | None = None
    title: str = ""
    keys: tuple[str, ...] = ()
    entries: list[str] = field(default_factory=list)


def parse(data: bytes, options: Options | None = None) -> Parsed:
    options = options or Options()
    parsed, position = Parsed(), 0
    logs: dict[str, _Log] = {}
    for document in documents(data):
        refuse_foreign(document, SOURCE, "PagerDuty data")
        position = _document(document, options, parsed, logs, position)
    _merge_logs(parsed, logs)
    _warn(parsed)
    return parsed


def _document(
    document: Any, options: Options, parsed: Parsed, logs: dict[str, _Log], start: int
) -> int:
    """Read one JSON document into `parsed` and `logs`; returns the next record position."""
    if isinstance(document, dict) and isinstance(document.get("event"), dict):
        each([document["event"]], lambda event: _event(event, options), parsed, start)
        return start + 1
    items, tz = _items(document, options)
    for offset, item in enumerate(items):
        position = start + offset
        if not isinstance(item, dict):
            parsed.errors.append((position, "record is not a JSON object"))
        elif str(item.get("type", "")).endswith("log_entry"):
            _log_entry(item, position, logs, parsed)
        elif "service_name" in item or "seconds_to_first_ack" in item or "priority_name" in item:
            each([item], lambda record: _analytics(record, options, tz), parsed, position)
        else:
            each([item], lambda record: _rest(record, options), parsed, position)
    return start + len(items)


def _items(document: Any, options: Options) -> tuple[list[Any], dt.tzinfo | None]:
    """The records of one document and the zone of its naive times (Analytics only)."""
    if isinstance(document, list):
        return document, options.timezone
    if not isinstance(document, dict):
        raise ImportFormatError(_EXPECTED)
    for key in ("incidents", "log_entries", "data", "incident", "log_entry"):
        value = document.get(key)
        if isinstance(value, dict):
            value = [value]
        if isinstance(value, list):
            named = document.get("time_zone")
            tz = zone(named) if isinstance(named, str) and named else options.timezone
            return value, tz
    raise ImportFormatError(_EXPECTED)


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


def _service(record: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The service's slug and every name or id it goes by (summary, name, id)."""
    service = record.get("service")
    if not isinstance(service, dict):
        return "unknown", ()
    keys = service_keys(service.get("summary"), service.get("name"), service.get("id"))
    return (service_id(keys[0]) or "unknown") if keys else "unknown", keys


def _severity(record: dict[str, Any], priority: Any, options: Options) -> str | None:
    found = severity(priority)
    if found is None and isinstance(record.get("urgency"), str):
        found = options.urgency.get(record["urgency"].lower())
    return found


def _rest(record: dict[str, Any], options: Options) -> Incident:
    identifier = text(record.get("id"), "id", required=True)
    started = timestamp(record.get("created_at"), "created_at", required=True)
    assert identifier is not None and started is not None
    slug, keys = _service(record)
    return Incident(
        source=SOURCE,
        source_id=identifier,
        started_at=started,
        detected_at=started,
        acknowledged_at=_first_ack(record),
        resolved_at=timestamp(_resolved(record), "resolved_at"),
        title=text(record.get("title") or record.get("summary"), "title") or "",
        service=slug or "unknown",
        service_keys=keys,
        severity=_severity(record, _summary(record.get("priority")), options),
        error_class=tagged(_tag_names(record), "error_class"),
        raw=record,
        event_at=timestamp(record.get("updated_at"), "updated_at"),
    )


def _event(event: dict[str, Any], options: Options) -> Incident:
    """A v3 webhook event about an incident: the incident, dated by the event.

    Captures from 2021 carry no `created_at` in `data`: a trigger is then dated
    by the event itself, and any other event is put onto the stored incident
    (`partial="event"`), whose start it cannot know.
    """
    data = event.get("data")
    if event.get("resource_type") != "incident" or not isinstance(data, dict):
        raise RowError(f"event {event.get('event_type')!r} is not about an incident")
    when = timestamp(event.get("occurred_at"), "event.occurred_at")
    kind = event.get("event_type")
    partial = ""
    if not data.get("created_at") and when is not None:
        partial = "" if kind == "incident.triggered" else "event"
        data = {**data, "created_at": when.isoformat()}
    incident = _rest(data, options)
    if kind == "incident.acknowledged" and incident.acknowledged_at is None:
        incident.acknowledged_at = when
    elif kind == "incident.resolved" and incident.resolved_at is None:
        incident.resolved_at = when
    if partial:
        incident.detected_at, incident.partial = None, partial
    incident.event_at = when
    incident.raw = event
    return incident


def _tag_names(record: dict[str, Any]) -> list[str]:
    tags = record.get("tags")
    if not isinstance(tags, list):
        return []
    return [str(tag.get("label") if isinstance(tag, dict) else tag) for tag in tags]


def _analytics(record: dict[str, Any], options: Options, tz: dt.tzinfo | None) -> Incident:
    identifier = text(record.get("id"), "id", required=True)
    started = timestamp(record.get("created_at"), "created_at", required=True, naive=tz)
    assert identifier is not None and started is not None
    keys = service_keys(record.get("service_name"), record.get("service_id"))
    return Incident(
        source=SOURCE,
        source_id=identifier,
        started_at=started,
        detected_at=started,
        acknowledged_at=plus_seconds(
            started, record.get("seconds_to_first_ack"), "seconds_to_first_ack"
        ),
        resolved_at=timestamp(record.get("resolved_at"), "resolved_at", naive=tz),
        title=text(record.get("description"), "description") or "",
        service=(service_id(keys[0]) or "unknown") if keys else "unknown",
        service_keys=keys,
        severity=_severity(record, record.get("priority_name"), options),
        raw=record,
    )


def _log_entry(entry: dict[str, Any], position: int, logs: dict[str, _Log], parsed: Parsed) -> None:
    incident = entry.get("incident")
    identifier = incident.get("id") if isinstance(incident, dict) else None
    if not isinstance(identifier, str) or not identifier:
        parsed.errors.append((position, "log entry names no incident.id"))
        return
    try:
        when = timestamp(entry.get("created_at"), "created_at", required=True)
    except RowError as error:
        parsed.errors.append((position, f"log entry of {identifier}: {error}"))
        return
    log = logs.setdefault(identifier, _Log(position))
    kind = str(entry.get("type"))
    log.entries.append(kind)
    if kind == "trigger_log_entry":
        log.triggered = _earliest(log.triggered, when)
        log.title = log.title or str(_summary(incident) or "")
        log.keys = log.keys or _service(entry)[1]
    elif kind == "acknowledge_log_entry":
        log.acknowledged = _earliest(log.acknowledged, when)
    elif kind == "resolve_log_entry":
        log.resolved = max(log.resolved, when) if log.resolved and when else when


def _earliest(known: dt.datetime | None, new: dt.datetime | None) -> dt.datetime | None:
    return min(known, new) if known and new else known or new


def _merge_logs(parsed: Parsed, logs: dict[str, _Log]) -> None:
    """Give incidents their log entries' times; the rest become partial incidents."""
    for _, incident in parsed.incidents:
        log = logs.pop(incident.source_id, None)
        if log is not None:
            incident.acknowledged_at = _earliest(incident.acknowledged_at, log.acknowledged)
            incident.resolved_at = incident.resolved_at or log.resolved
    for identifier, log in logs.items():
        if not (log.triggered or log.acknowledged or log.resolved):
            continue  # only notifications, assignments, notes: nothing to measure
        start = log.triggered or min(t for t in (log.acknowledged, log.resolved) if t)
        keys = log.keys
        parsed.incidents.append(
            (
                log.position,
                Incident(
                    source=SOURCE,
                    source_id=identifier,
                    started_at=start,
                    detected_at=log.triggered,
                    acknowledged_at=log.acknowledged,
                    resolved_at=log.resolved,
                    title=log.title,
                    service=(service_id(keys[0]) or "unknown") if keys else "unknown",
                    service_keys=keys,
                    raw={"log_entries": log.entries, "first_record": log.position},
                    partial="start" if log.triggered else "times",
                ),
            )
        )


def _warn(parsed: Parsed) -> None:
    """Resolved incidents whose acknowledgement or resolution time is unknown."""
    for position, incident in parsed.incidents:
        status = incident.raw.get("status") if not incident.partial else None
        if status == "resolved" and incident.acknowledged_at is None:
            parsed.warnings.append(
                (
                    position,
                    f"{incident.source_id}: resolved with no acknowledgement time (the incident "
                    "list forgets them once resolved; import its log entries for MTTA)",
                )
            )
        if status == "resolved" and incident.resolved_at is None:
            parsed.warnings.append((position, f"{incident.source_id}: resolved, but no time given"))
