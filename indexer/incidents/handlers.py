"""What a stored webhook delivery means: each vendor's events mapped, ignored or refused.

    outcome = handlers.handle(library, "pagerduty", headers, body)

A delivery comes here after `indexer.incidents.deliveries` stored it and its
signature was checked. Every outcome has a `status`:

- `stored`: the event changed incidents, alerts or queued a sync (`report` says how);
- `ignored`: a genuine event with nothing to measure (a ping, a note, a
  responder, a status update): answered 2xx, so the vendor keeps the
  subscription;
- `failed`: it could be accepted but was not (an acknowledgement for an
  incident not stored yet, a database error, a bug): kept and replayable;
- `refused`: the body can never be accepted (not JSON, not the vendor's
  shape): answered 4xx.

Which event types of each vendor are mapped and which are ignored is listed
in docs/metrics.md; an event type a vendor adds later is ignored, not refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from indexer.incidents import alerts, importers, intake
from indexer.indexing import pushes

if TYPE_CHECKING:
    from indexer.library import Library

INCIDENT_VENDORS = (
    "pagerduty",
    "opsgenie",
    "firehydrant",
    "jsm",
    "incident-io",
    "grafana-oncall",
)
GIT_VENDORS = ("github", "gitlab")

# PagerDuty v3 events whose `data` is the incident itself: they may change its times,
# title, priority or service. Every other event type is ignored (docs/metrics.md).
PAGERDUTY_INCIDENT_EVENTS = frozenset(
    (
        "incident.triggered",
        "incident.acknowledged",
        "incident.unacknowledged",
        "incident.resolved",
        "incident.reopened",
        "incident.escalated",
        "incident.delegated",
        "incident.reassigned",
        "incident.priority_updated",
        "incident.service_updated",
        "incident.incident_type.changed",
    )
)
# Opsgenie (and Jira Service Management) alert actions that date something we measure.
OPSGENIE_ACTIONS = frozenset(("Create", "Acknowledge", "Close"))
# incident.io events that carry the whole incident; private ones carry only its id.
INCIDENT_IO_EVENTS = frozenset(
    ("public_incident.incident_created_v2", "public_incident.incident_updated_v2")
)


@dataclass
class Outcome:
    """What processing one delivery did; `new_incidents` and `new_alerts` are what is new."""

    status: str
    detail: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    # (source, source_id) of incidents stored for the first time, and the fingerprints of
    # newly firing alerts: what a listener announces (see `deliveries.process`).
    new_incidents: list[tuple[str, str]] = field(default_factory=list)
    new_alerts: list[str] = field(default_factory=list)
    # The word the answer uses for this status (a push "scheduled" a sync), and whether a
    # refused body is malformed (400) rather than well-formed but not the vendor's (422).
    label: str = ""
    malformed: bool = False


def handle(
    library: Library,
    vendor: str,
    headers: dict[str, str],
    body: bytes,
    *,
    on_push: Callable[[], bool] | None = None,
) -> Outcome:
    """Process one delivery's body; `on_push` queues a sync (False: one was already queued)."""
    if vendor in GIT_VENDORS:
        return _push(library, vendor, headers, body, on_push)
    if vendor == "alertmanager":
        return _alertmanager(library, body)
    if vendor in INCIDENT_VENDORS:
        return _incident_event(library, vendor, body)
    return Outcome("refused", f"no intake for {vendor!r}")


def _json(body: bytes) -> tuple[Any, str | None]:
    """The body's JSON, or None and why it cannot be read (not JSON, nested too deeply)."""
    try:
        return importers.load_json(body), None
    except importers.ImportFormatError as error:
        return None, str(error)


def ignored_reason(vendor: str, document: Any) -> str | None:
    """Why a well-formed event of `vendor` has nothing to measure, or None if it has."""
    reader = _IGNORED.get(vendor)
    return reader(document) if reader is not None and isinstance(document, dict) else None


def _pagerduty_ignored(document: dict[str, Any]) -> str | None:
    event = document.get("event")
    if not isinstance(event, dict):
        return None  # not a v3 event: the importer refuses it by name
    kind, data = event.get("event_type"), event.get("data")
    about_incident = isinstance(data, dict) and data.get("type", "incident") == "incident"
    if kind in PAGERDUTY_INCIDENT_EVENTS and about_incident:
        return None
    return f"PagerDuty event {str(kind)[:80]!r} has nothing to measure"


def _opsgenie_ignored(document: dict[str, Any]) -> str | None:
    action = document.get("action")
    if isinstance(action, str) and action not in OPSGENIE_ACTIONS:
        return f"Opsgenie action {action[:80]!r} has nothing to measure"
    return None


def _firehydrant_ignored(document: dict[str, Any]) -> str | None:
    data = document.get("data")
    no_incident = isinstance(data, dict) and not isinstance(data.get("incident"), dict)
    if no_incident and isinstance(document.get("event"), dict):
        return "FireHydrant event without an incident has nothing to measure"
    return None


def _incident_io_ignored(document: dict[str, Any]) -> str | None:
    event = intake.incident_io_event(document)
    kind = event.get("event_type")
    if not isinstance(kind, str):
        return None  # not an event: refused by name
    if kind.startswith("private_incident."):
        return f"incident.io {kind[:80]!r} holds only the id: pull private incidents with --from"
    if kind not in INCIDENT_IO_EVENTS:
        return f"incident.io event {kind[:80]!r} has nothing to measure"
    return None


def _grafana_oncall_ignored(document: dict[str, Any]) -> str | None:
    if not isinstance(document.get("alert_group"), dict) and isinstance(
        document.get("event"), dict
    ):
        return "Grafana OnCall event without an alert group has nothing to measure"
    return None


_IGNORED: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "pagerduty": _pagerduty_ignored,
    "opsgenie": _opsgenie_ignored,
    "jsm": _opsgenie_ignored,
    "firehydrant": _firehydrant_ignored,
    "incident-io": _incident_io_ignored,
    "grafana-oncall": _grafana_oncall_ignored,
}


def _incident_event(library: Library, vendor: str, body: bytes) -> Outcome:
    document, unreadable = _json(body)
    if unreadable is not None:
        return Outcome("refused", unreadable, malformed=True)
    reason = ignored_reason(vendor, document)
    if reason is not None:
        return Outcome("ignored", reason)
    try:
        data = intake.translate(vendor, body)
        report = importers.import_bytes(library.engine, vendor, data, vocabulary=library.taxonomy)
    except importers.ImportFormatError as error:
        return Outcome("refused", str(error))
    summary = report.as_dict()
    if report.errors and not (report.added or report.updated):
        detail = "; ".join(message for _, message in report.errors)
        return Outcome("failed", detail, summary)
    return Outcome("stored", "", summary, new_incidents=list(report.new_incidents))


def _alertmanager(library: Library, body: bytes) -> Outcome:
    payload, unreadable = _json(body)
    if unreadable is not None:
        return Outcome("refused", unreadable, malformed=True)
    window = library.settings.near_miss_window_minutes
    try:
        report = alerts.receive(library.engine, payload, window, library.taxonomy)
    except alerts.AlertPayloadError as error:
        return Outcome("refused", str(error))
    return Outcome("stored", "", report.as_dict(), new_alerts=list(report.new_firing))


def _push(
    library: Library,
    vendor: str,
    headers: dict[str, str],
    body: bytes,
    on_push: Callable[[], bool] | None,
) -> Outcome:
    branch = library.settings.git_branch
    try:
        if vendor == "github":
            decision = pushes.github_decision(headers.get("x-github-event"), body, branch)
        else:
            decision = pushes.gitlab_decision(headers.get("x-gitlab-event"), body, branch)
    except pushes.PayloadError as error:
        return Outcome("refused", str(error), malformed=True)
    if not decision.sync:
        return Outcome("ignored", decision.reason)
    if on_push is None:
        return Outcome("failed", f"{decision.reason}: no sync to queue here; run `pml sync`")
    queued = on_push()
    detail = "sync scheduled" if queued else "a sync was already scheduled; it covers this push"
    return Outcome("stored", f"{decision.reason}: {detail}", label="scheduled")
