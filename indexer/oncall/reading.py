"""What an alert says, read from a vendor's webhook payload as the vendor sends it.

    said = read("alertmanager", body)
    said.text       # "Pgbouncer pool exhausted. PgBouncer pool for orders is full ..."
    said.names      # label values and vendor service names, most specific first

Payloads are read by the parsers intake already uses (`indexer.incidents.alerts`
for Alertmanager, the importers through `intake.translate` for PagerDuty,
Opsgenie and FireHydrant), so a payload pml stores and a payload it is asked
about are read the same way. This module only picks out what a person reads
in an alert: the alert's name with its CamelCase split into words, the
summary and description, labels that name a service or a team, tags and
details. Template residue that carries no meaning (`VALUE = 0.93`,
`LABELS = map[...]`, URLs, hex ids) is dropped from the text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from sqlmodel import Session, col, select

from indexer.db import store
from indexer.db.models import IncidentRow
from indexer.incidents import alerts, importers, intake
from indexer.incidents.importers import ImportFormatError
from indexer.incidents.model import SERVICE_KEYS, Incident

SOURCES = (
    "alertmanager",
    "pagerduty",
    "opsgenie",
    "firehydrant",
    "jsm",
    "incident-io",
    "grafana-oncall",
)
MAX_TEXT = 1500  # characters of alert text searched: the first paragraph says what failed
# Labels that name what is alerting, most specific first (Kubernetes and Prometheus habits).
SERVICE_LABELS = (
    "service",
    "app",
    "app_kubernetes_io_name",
    "app_kubernetes_io_instance",
    "component",
    "job",
    "container",
    "deployment",
    "statefulset",
    "daemonset",
    "cluster",
    "scope",  # Patroni's cluster name
    "database",
    "datname",
    "queue",
    "topic",
    "consumergroup",
    "persistentvolumeclaim",
    "horizontalpodautoscaler",
    "cronjob",
    "job_name",
    "name",
    "pod",
    "instance",
)
TEAM_LABELS = ("team", "owner", "squad", "namespace")
TEXT_ANNOTATIONS = ("summary", "title", "message", "description")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOISE = re.compile(
    r"(?:LABELS|VALUE)\s*[=:]\s*(?:map\[[^\]]*\]|\S+)"  # awesome-prometheus-alerts' footer
    r"|https?://\S+"
    r"|\{\{[^}]*\}\}"  # an unexpanded template
    r"|\b[0-9a-f]{12,}\b"  # hashes and ids
    r"|\b\d+(?:\.\d+)?\s*%?"
)
_SPACES = re.compile(r"\s+")


class AlertReadError(ValueError):
    """The payload is not one the source sends; the message is safe to show."""


@dataclass(frozen=True)
class AlertSaid:
    """What one alert or incident says, whatever vendor sent it."""

    source: str
    name: str  # the alert name or incident title, as sent
    text: str  # what to search for: the name in words, then summary and description
    names: tuple[str, ...] = ()  # service-ish label values and vendor service names
    teams: tuple[str, ...] = ()  # team labels and namespaces
    error_class: str | None = None  # an explicit error_class tag
    source_id: str | None = None  # the vendor's id of the incident or alert
    firing: bool = True
    postmortem: str | None = None  # a postmortem the vendor record links
    extra: dict[str, str] = field(default_factory=dict)


def words_of_name(name: str) -> str:
    """`PgbouncerPoolExhausted` -> `Pgbouncer Pool Exhausted`; `KubePodCrashLooping` too."""
    spaced = _CAMEL.sub(" ", name)
    return _SPACES.sub(" ", re.sub(r"[_:]+", " ", spaced)).strip()


def clean(text: str) -> str:
    """Alert prose without template residue, numbers and links, on one line."""
    return _SPACES.sub(" ", _NOISE.sub(" ", text)).strip()


def text_of(name: str, *parts: str) -> str:
    """The searched text: the name in words, then the prose parts that add something."""
    pieces = [words_of_name(name)] if name else []
    for part in parts:
        cleaned = clean(part)
        if cleaned and cleaned not in pieces:
            pieces.append(cleaned)
    return ". ".join(pieces)[:MAX_TEXT]


def read(source: str, body: bytes) -> AlertSaid:
    """The alert in `body` as `source` sends it; AlertReadError says why one cannot be read."""
    if source not in SOURCES:
        raise AlertReadError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    if source == "alertmanager":
        return _alertmanager(_json(body))
    try:
        data = body if source == "pagerduty" else intake.translate(source, body)
        parsed = importers.parse(source, data)
    except ImportFormatError as error:
        raise AlertReadError(str(error)) from None
    if not parsed.incidents:
        reasons = "; ".join(message for _, message in parsed.errors) or "no incident in it"
        raise AlertReadError(f"not a {source} incident or alert: {reasons}")
    return from_incident(parsed.incidents[0][1])


def from_incident(incident: Incident) -> AlertSaid:
    """A stored or imported incident as an alert (its vendor record is kept in `raw`)."""
    reader = {
        "pagerduty": _pagerduty,
        "opsgenie": _opsgenie,
        "jsm": _opsgenie,  # Jira Service Management sends Opsgenie's alert format
        "firehydrant": _firehydrant,
    }
    if incident.source in reader:
        return replace(reader[incident.source](incident), source=incident.source)
    return AlertSaid(
        source=incident.source,
        name=incident.title,
        text=text_of(incident.title),
        names=(*incident.service_keys, incident.service),
        error_class=incident.error_class,
        source_id=incident.source_id,
        firing=incident.resolved_at is None,
        postmortem=incident.postmortem,
    )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AlertReadError("body is not JSON") from None
    except RecursionError:
        raise AlertReadError("body is JSON nested too deeply to read") from None


def _alertmanager(payload: Any) -> AlertSaid:
    try:
        found, errors = alerts.parse_payload(payload)
    except alerts.AlertPayloadError as error:
        raise AlertReadError(str(error)) from None
    if not found:
        reasons = "; ".join(f"alert {i}: {m}" for i, m in errors) or "the alerts list is empty"
        raise AlertReadError(f"no usable alert in the payload: {reasons}")
    firing = [alert for _, alert in found if alert.status == "firing"]
    alert = (firing or [alert for _, alert in found])[0]
    labels, notes = alert.labels, alert.annotations
    name = labels.get("alertname", "")
    prose = [notes[key] for key in TEXT_ANNOTATIONS if notes.get(key)]
    return AlertSaid(
        source="alertmanager",
        name=name,
        text=text_of(name, *prose),
        names=_values(labels, SERVICE_LABELS),
        teams=_values(labels, TEAM_LABELS),
        error_class=labels.get("error_class"),
        source_id=alert.fingerprint,
        firing=alert.status == "firing",
        extra={"severity": labels.get("severity", ""), "starts_at": alert.key},
    )


def _values(labels: dict[str, str], keys: tuple[str, ...]) -> tuple[str, ...]:
    found: list[str] = []
    for key in keys:
        value = labels.get(key, "").strip()
        if value and value not in found:
            found.append(value)
    return tuple(found)


def _pagerduty(incident: Incident) -> AlertSaid:
    raw = incident.raw.get("data") if "event" in incident.raw else incident.raw
    record = raw if isinstance(raw, dict) else {}
    details = [str(record.get(key) or "") for key in ("description", "summary")]
    body = record.get("body")
    if isinstance(body, dict):
        details.append(str(body.get("details") or ""))
    teams = record.get("teams")
    team_names = (
        [str(team.get("summary") or "") for team in teams or [] if isinstance(team, dict)]
        if isinstance(teams, list)
        else []
    )
    title = incident.title
    return AlertSaid(
        source="pagerduty",
        name=title,
        text=text_of(title, *details),
        names=(*incident.service_keys, *_bracketed(title)),
        teams=tuple(name for name in team_names if name),
        error_class=incident.error_class,
        source_id=incident.source_id,
        firing=incident.resolved_at is None,
        postmortem=incident.postmortem,
    )


def _bracketed(title: str) -> tuple[str, ...]:
    """Label values Alertmanager templates put in a title: `[FIRING:1] X (orders-db warning)`."""
    found = re.findall(r"\(([^()]{1,200})\)", title)
    return tuple(word for group in found for word in group.split() if "-" in word or "_" in word)


def _opsgenie(incident: Incident) -> AlertSaid:
    record = incident.raw
    details = record.get("details") if isinstance(record.get("details"), dict) else {}
    assert isinstance(details, dict)
    tags = [str(tag) for tag in record.get("tags") or [] if isinstance(tag, str | int)]
    plain_tags = [tag for tag in tags if ":" not in tag]
    prose = [str(record.get("description") or "")]
    prose += [str(value) for key, value in details.items() if key.lower() in TEXT_ANNOTATIONS]
    named = [str(details.get(key) or "") for key in SERVICE_LABELS]
    teams = [str(details.get(key) or "") for key in TEAM_LABELS]
    teams += [str(t.get("name") or "") for t in record.get("teams") or [] if isinstance(t, dict)]
    owner = record.get("owner")
    names = (*incident.service_keys, *named, str(record.get("entity") or ""), *plain_tags)
    return AlertSaid(
        source="opsgenie",
        name=incident.title,
        text=text_of(incident.title, *prose, " ".join(plain_tags)),
        names=tuple(dict.fromkeys(name for name in names if name.strip())),
        teams=tuple(dict.fromkeys(t for t in (*teams, str(owner or "")) if t.strip())),
        error_class=incident.error_class,
        source_id=incident.source_id,
        firing=incident.resolved_at is None,
        postmortem=incident.postmortem,
    )


def _firehydrant(incident: Incident) -> AlertSaid:
    record = incident.raw
    prose = [
        str(record.get(key) or "") for key in ("summary", "description", "customer_impact_summary")
    ]
    tags = [str(tag) for tag in record.get("tag_list") or [] if isinstance(tag, str)]
    teams = [
        str(team.get("name") or "") for team in record.get("teams") or [] if isinstance(team, dict)
    ]
    return AlertSaid(
        source="firehydrant",
        name=incident.title,
        text=text_of(incident.title, *prose),
        names=tuple(dict.fromkeys((*incident.service_keys, *[t for t in tags if ":" not in t]))),
        teams=tuple(t for t in teams if t),
        error_class=incident.error_class,
        source_id=incident.source_id,
        firing=incident.resolved_at is None,
        postmortem=incident.postmortem,
    )


def stored(db: Session, source: str, source_id: str) -> AlertSaid | None:
    """A stored incident read as an alert (its vendor record is in `raw`), or None."""
    row = db.exec(
        select(IncidentRow).where(
            col(IncidentRow.source) == source, col(IncidentRow.source_id) == source_id
        )
    ).first()
    if row is None:
        return None
    raw = dict(row.raw or {})
    keys = tuple(raw.pop(SERVICE_KEYS, None) or ())
    started = store.as_utc(row.started_at)
    assert started is not None
    incident = Incident(
        source=row.source,
        source_id=row.source_id,
        started_at=started,
        title=row.title,
        service=row.service,
        resolved_at=store.as_utc(row.resolved_at),
        error_class=row.error_class,
        postmortem=row.postmortem_id,
        raw=raw,
        service_keys=(*keys, row.service),
    )
    return from_incident(incident)


def from_text(text: str, service: str | None = None) -> AlertSaid:
    """An alert pasted as text: its first line is its name (`KubePodCrashLooping`, a title)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise AlertReadError("the alert text is empty")
    name = lines[0][:MAX_TEXT]
    return AlertSaid(
        source="text",
        name=name,
        text=text_of(name, *lines[1:]),
        names=(service,) if service else tuple(_label_like(" ".join(lines))),
    )


def _label_like(text: str) -> list[str]:
    """Words that look like label values (`pgbouncer-orders`, `checkout_api`): service hints."""
    return [word for word in re.findall(r"[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)+", text)][:20]
