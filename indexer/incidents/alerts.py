"""Alertmanager webhooks (payload version 4): stored once per (fingerprint, startsAt).

Alertmanager re-sends the same alert on every group interval and retries on
any non-2xx answer, so a repeat is answered 2xx and changes nothing, and only
a payload that can never succeed is refused (`AlertPayloadError`). Receivers
and relays often drop `fingerprint` (or send it empty) and the per-alert
`status`: the fingerprint is then computed from the labels exactly as
Alertmanager does (`fingerprint`), and the status taken from the payload.

When an alert resolves within the near-miss window
(`PML_NEAR_MISS_WINDOW_MINUTES`) and no incident of its service was
acknowledged around it, nobody had to act: it is a near-miss (see
`indexer.incidents.nearmiss`). One near-miss per alert group firing
(alertname + service): the same alert on several instances, or flapping
inside the window, folds into one entry that counts instances and firings,
so one noisy notification cannot reach "postmortem recommended" alone.
Services map through the taxonomy's aliases like imported incidents'.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from indexer import storable
from indexer.db import store
from indexer.db.models import AlertRow, IncidentRow, NearMissRow
from indexer.format.postmortem import parse_timestamp
from indexer.format.taxonomy import Taxonomy
from indexer.incidents import nearmiss

_ZERO_TIME_YEAR = 1  # Alertmanager sends 0001-01-01T00:00:00Z for "not ended"
# Per-alert limits: an alert past one is reported and left out, the rest of its batch is kept.
MAX_ENTRIES = 100  # labels, or annotations, of one alert
MAX_LABEL_CHARS = 1024
MAX_ANNOTATION_CHARS = 16 * 1024
MAX_ALERTNAME_CHARS = 200  # it names the near-miss ("what failed", 500 characters at most)
MAX_WHAT_FAILED_CHARS = 500

_FNV_OFFSET, _FNV_PRIME, _MASK = 14695981039346656037, 1099511628211, (1 << 64) - 1
_SEPARATOR = 0xFF  # prometheus/common model.SeparatorByte


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over the sorted labels, in hex.

    Each name and value is followed by the byte 0xff (prometheus/common
    `labelSetToFingerprint`), and the result is printed as 16 hex digits, as
    Alertmanager's `Fingerprint.String` does.
    """
    value = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8"):
                value = ((value ^ byte) * _FNV_PRIME) & _MASK
            value = ((value ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{value:016x}"


class AlertPayloadError(ValueError):
    """The payload can never be accepted (wrong version or shape); safe to show."""


@dataclass
class Alert:
    fingerprint: str
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]

    def service(self, vocabulary: Taxonomy | None) -> str:
        """The taxonomy service its `service` (else `job`) label names, else that label."""
        keys = [v for v in (self.labels.get("service"), self.labels.get("job")) if v]
        mapped = vocabulary.service_for(keys) if vocabulary is not None else None
        return mapped or (keys[0] if keys else "unknown")

    @property
    def key(self) -> str:
        return self.starts_at.astimezone(dt.UTC).isoformat()


@dataclass
class AlertReport:
    received: int = 0
    new: int = 0
    updated: int = 0
    duplicates: int = 0
    near_misses: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    # Fingerprints of alerts stored for the first time while firing (what is announced).
    new_firing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        hidden = ("errors", "new_firing")
        body: dict[str, Any] = {k: v for k, v in vars(self).items() if k not in hidden}
        body["errors"] = [{"alert": index, "message": message} for index, message in self.errors]
        return body


def parse_payload(payload: Any) -> tuple[list[tuple[int, Alert]], list[tuple[int, str]]]:
    """The usable alerts (with their index) and the reasons the others were left out."""
    if not isinstance(payload, dict):
        raise AlertPayloadError("expected an Alertmanager webhook payload (a JSON object)")
    if str(payload.get("version")) != "4":
        raise AlertPayloadError(f"unsupported payload version {payload.get('version')!r}; need 4")
    items = payload.get("alerts")
    if not isinstance(items, list):
        raise AlertPayloadError('"alerts" must be a list')
    alerts, errors = [], []
    status = payload.get("status")
    for index, item in enumerate(items):
        try:
            alerts.append((index, _alert(item, status)))
        except AlertPayloadError as error:
            errors.append((index, str(error)))
    return alerts, errors


def _strings(value: Any, name: str, limit: int) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AlertPayloadError(f"{name} must be an object")
    if len(value) > MAX_ENTRIES:
        raise AlertPayloadError(f"{name} has more than {MAX_ENTRIES} entries")
    found = {}
    for key, item in value.items():
        if isinstance(item, (dict, list)):
            raise AlertPayloadError(f"{name}.{str(key)[:64]} must be a string")
        text = str(item)
        if len(key) > MAX_LABEL_CHARS or len(text) > limit:
            raise AlertPayloadError(f"{name}.{str(key)[:64]} is longer than {limit} characters")
        found[str(key)] = text
    return found


def _time(value: Any, name: str) -> dt.datetime | None:
    parsed = parse_timestamp(value) if value else None
    if value and parsed is None:
        raise AlertPayloadError(f"{name} is not an RFC 3339 time: {value!r}")
    if parsed is None or parsed.year == _ZERO_TIME_YEAR:
        return None
    return parsed.astimezone(dt.UTC)


def _alert(item: Any, group_status: Any) -> Alert:
    if not isinstance(item, dict):
        raise AlertPayloadError("alert is not an object")
    unstorable = storable.first_problem(item)  # else PostgreSQL fails the whole batch
    if unstorable is not None:
        raise AlertPayloadError(f"{unstorable}; the database cannot store it")
    given = item.get("fingerprint")
    if given is not None and not isinstance(given, str):
        raise AlertPayloadError(f"fingerprint must be a string, got {given!r}")
    starts = _time(item.get("startsAt"), "startsAt")
    if starts is None:
        raise AlertPayloadError("startsAt is missing")
    status = item.get("status") or group_status
    if status not in ("firing", "resolved"):
        raise AlertPayloadError(f"status must be firing or resolved, got {status!r}")
    labels = _strings(item.get("labels"), "labels", MAX_LABEL_CHARS)
    if len(labels.get("alertname", "")) > MAX_ALERTNAME_CHARS:
        raise AlertPayloadError(f"labels.alertname is longer than {MAX_ALERTNAME_CHARS} characters")
    return Alert(
        fingerprint=(given.strip() if given and given.strip() else fingerprint(labels))[:128],
        status=status,
        starts_at=starts,
        ends_at=_time(item.get("endsAt"), "endsAt") if status == "resolved" else None,
        labels=labels,
        annotations=_strings(item.get("annotations"), "annotations", MAX_ANNOTATION_CHARS),
    )


def receive(
    engine: Engine, payload: Any, window_minutes: float, vocabulary: Taxonomy | None = None
) -> AlertReport:
    """Store the payload's alerts; log the quick unacknowledged ones as near-misses."""
    alerts, errors = parse_payload(payload)
    if errors and not alerts:
        raise AlertPayloadError("; ".join(f"alert {i}: {m}" for i, m in errors))
    report = AlertReport(received=len(alerts) + len(errors), errors=errors)
    with store.session(engine) as db:
        rows = [_store(db, alert, alert.service(vocabulary), report) for _, alert in alerts]
        for row in sorted(rows, key=lambda r: (store.as_utc(r.starts_at), r.fingerprint)):
            if not _is_near_miss(db, row, window_minutes):
                continue
            episode = _episode(db, row, window_minutes)
            if episode is None:
                _log_near_miss(db, row, window_minutes)
                report.near_misses += 1
            else:
                row.near_miss_id = episode
                db.add(row)
                db.flush()
                _describe(db, episode, window_minutes)
        db.commit()
    return report


def _store(db: Session, alert: Alert, service: str, report: AlertReport) -> AlertRow:
    row = db.get(AlertRow, (alert.fingerprint, alert.key))
    if row is None:
        row = AlertRow(
            fingerprint=alert.fingerprint,
            starts_key=alert.key,
            starts_at=alert.starts_at,
            ends_at=alert.ends_at,
            status=alert.status,
            alertname=alert.labels.get("alertname", ""),
            service=service[:128],
            labels=alert.labels,
            annotations=alert.annotations,
        )
        report.new += 1
        if alert.status == "firing":
            report.new_firing.append(alert.fingerprint)
    elif row.status == "firing" and alert.status == "resolved":
        row.status, row.ends_at = alert.status, alert.ends_at
        report.updated += 1
    else:  # a re-delivery, or a late "firing" after we saw it resolve
        report.duplicates += 1
    db.add(row)
    db.flush()
    return row


def _is_near_miss(db: Session, row: AlertRow, window_minutes: float) -> bool:
    if row.status != "resolved" or row.ends_at is None or row.near_miss_id is not None:
        return False
    window = dt.timedelta(minutes=window_minutes)
    starts = store.as_utc(row.starts_at)
    ends = store.as_utc(row.ends_at)
    assert starts is not None and ends is not None
    if ends - starts > window:
        return False
    acknowledged = db.exec(
        select(IncidentRow.id)
        .where(IncidentRow.service == row.service)
        .where(col(IncidentRow.acknowledged_at).is_not(None))
        .where(col(IncidentRow.started_at) >= starts - window)
        .where(col(IncidentRow.started_at) <= starts + window)
        .limit(1)
    ).first()
    return acknowledged is None


def _episode(db: Session, row: AlertRow, window_minutes: float) -> int | None:
    """The near-miss of this alert group (alertname + service) firing around the same time."""
    window = dt.timedelta(minutes=window_minutes)
    starts = store.as_utc(row.starts_at)
    assert starts is not None
    found = db.exec(
        select(AlertRow.near_miss_id)
        .where(AlertRow.alertname == row.alertname, AlertRow.service == row.service)
        .where(col(AlertRow.near_miss_id).is_not(None))
        .where(col(AlertRow.starts_at) >= starts - window)
        .where(col(AlertRow.starts_at) <= starts + window)
        .order_by(col(AlertRow.starts_at))
        .limit(1)
    ).first()
    return found


def _describe(db: Session, near_miss_id: int, window_minutes: float) -> None:
    """Rewrite a near-miss's `caught_by` to count the instances and firings folded into it."""
    entry = db.get(NearMissRow, near_miss_id)
    if entry is None:
        return
    rows = db.exec(select(AlertRow).where(AlertRow.near_miss_id == near_miss_id)).all()
    instances = len({r.fingerprint for r in rows})
    longest = max(_minutes(r) for r in rows)
    name = rows[0].alertname or rows[0].fingerprint
    fired = f"fired {len(rows)} times" if len(rows) > instances else "fired"
    entry.caught_by = (
        f"alert {name} {fired} on {instances} instance{'s' if instances != 1 else ''} and "
        f"resolved itself within {longest:.0f} min (window {window_minutes:g} min), "
        "nobody acknowledged it"
    )[:500]
    db.add(entry)


def _minutes(row: AlertRow) -> float:
    starts, ends = store.as_utc(row.starts_at), store.as_utc(row.ends_at)
    assert starts is not None and ends is not None
    return (ends - starts).total_seconds() / 60


def _log_near_miss(db: Session, row: AlertRow, window_minutes: float) -> None:
    starts, ends = store.as_utc(row.starts_at), store.as_utc(row.ends_at)
    assert starts is not None and ends is not None
    minutes = (ends - starts).total_seconds() / 60
    summary = row.annotations.get("summary") or row.annotations.get("description") or ""
    entry = nearmiss.NearMiss(
        date=starts.date(),
        service=row.service,
        what_failed=(row.alertname or summary or row.fingerprint)[:MAX_WHAT_FAILED_CHARS],
        caught_by=f"alert {row.alertname or row.fingerprint} fired and resolved itself "
        f"after {minutes:.0f} min (window {window_minutes:g} min), nobody acknowledged it",
        corrective_action=None,
        source="alertmanager",
        alert_fingerprint=row.fingerprint,
    )
    recorded = nearmiss.record(db, entry, today=max(starts.date(), dt.date.today()))
    row.near_miss_id = recorded["id"]
    db.add(row)
