"""incident.io: v2 incidents (`GET /v2/incidents`, one incident, or a list) and its webhooks.

Times are the incident's named timestamps (`incident_timestamp_values[]`:
`incident_timestamp.name` and `value.value`), which every organisation may
rename; the defaults are read by name, case-insensitively:

- start: "Impact started at", else "Reported at", else `created_at`;
- detected: "Reported at", else `created_at`;
- acknowledged: "Acknowledged at", else "Accepted at" (out of triage);
- mitigated: "Mitigated at", else "Fixed at", else "Monitoring at";
- resolved: "Resolved at", else "Closed at".

Severity is `severity.name` (Critical, Major, Minor, or SEVn/Pn), the
service the values of a custom field whose name says "service" (catalog
entries, options or text; each one can be a taxonomy alias). Incidents
declined, merged or cancelled in triage, and test or tutorial incidents,
are not incidents: they are left out with the reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from indexer.incidents.importers._common import (
    Options,
    Parsed,
    RowError,
    parse_records,
    service_id,
    service_keys,
    severity,
    text,
    timestamp,
)
from indexer.incidents.model import Incident

SOURCE = "incident-io"
_NAMES = {
    "started": ("impact started at", "reported at"),
    "detected": ("reported at",),
    "acknowledged": ("acknowledged at", "accepted at"),
    "mitigated": ("mitigated at", "fixed at", "monitoring at"),
    "resolved": ("resolved at", "closed at"),
}
_NOT_INCIDENTS = ("declined", "merged", "canceled", "cancelled")
_NOT_REAL = ("test", "tutorial")


def parse(data: bytes, options: Options | None = None) -> Parsed:
    keys = ("incidents", "incident")
    return parse_records(data, SOURCE, keys, "incident.io incidents", _incident)


def _timestamps(record: dict[str, Any]) -> dict[str, Any]:
    """Lower-cased timestamp name -> its value, for those that have one."""
    found: dict[str, Any] = {}
    values = record.get("incident_timestamp_values")
    for entry in values if isinstance(values, list) else []:
        if not isinstance(entry, dict):
            continue
        named, value = entry.get("incident_timestamp"), entry.get("value")
        name = named.get("name") if isinstance(named, dict) else None
        when = value.get("value") if isinstance(value, dict) else None
        if isinstance(name, str) and when:
            found.setdefault(name.strip().lower(), when)
    return found


def _first(stamps: dict[str, Any], role: str) -> dt.datetime | None:
    for name in _NAMES[role]:
        if name in stamps:
            return timestamp(stamps[name], f"timestamp {name!r}")
    return None


def _keys(record: dict[str, Any]) -> tuple[str, ...]:
    """The values of custom fields named like "Affected services"."""
    found: list[Any] = []
    entries = record.get("custom_field_entries")
    for entry in entries if isinstance(entries, list) else []:
        field = entry.get("custom_field") if isinstance(entry, dict) else None
        name = field.get("name") if isinstance(field, dict) else None
        if not (isinstance(name, str) and "service" in name.lower()):
            continue
        for value in entry.get("values") or []:
            if not isinstance(value, dict):
                continue
            catalog = value.get("value_catalog_entry")
            option = value.get("value_option")
            found.append(catalog.get("name") if isinstance(catalog, dict) else None)
            found.append(option.get("value") if isinstance(option, dict) else None)
            found.append(value.get("value_text"))
    return service_keys(*found)


def _status(record: dict[str, Any]) -> str:
    status = record.get("incident_status")
    category = status.get("category") if isinstance(status, dict) else status
    return str(category or "").lower()


def _incident(record: dict[str, Any]) -> Incident:
    identifier = text(record.get("id"), "id", required=True)
    assert identifier is not None
    if _status(record) in _NOT_INCIDENTS:
        raise RowError(f"{identifier}: {_status(record)} in triage, not an incident")
    if str(record.get("mode", "")).lower() in _NOT_REAL:
        raise RowError(f"{identifier}: a {record['mode']} incident")
    stamps = _timestamps(record)
    created = timestamp(record.get("created_at"), "created_at")
    started = _first(stamps, "started") or created
    if started is None:
        raise RowError("created_at is missing")
    keys = _keys(record)
    name = text(record.get("name"), "name") or ""
    reference = text(record.get("reference"), "reference")
    return Incident(
        source=SOURCE,
        source_id=identifier,
        started_at=started,
        detected_at=_first(stamps, "detected") or created,
        acknowledged_at=_first(stamps, "acknowledged"),
        mitigated_at=_first(stamps, "mitigated"),
        resolved_at=_first(stamps, "resolved"),
        title=f"{reference}: {name}" if reference and name else name,
        service=(service_id(keys[0]) or "unknown") if keys else "unknown",
        service_keys=keys,
        severity=severity(record.get("severity")),
        raw=record,
        event_at=timestamp(record.get("updated_at"), "updated_at"),
    )
