"""Two records, "a" and "b", that differ in every filter field of every list.

Postmortems: `SAMPLES` over `indexer.filters.FIELDS` (search in every mode
and the database listing are tested over it). Incidents: `INCIDENT_SAMPLES`
over `INCIDENT_FIELDS` (the incident list), the same incidents narrowed by
`SCOPE_FIELDS` (trends and reviews), and action items: `ACTION_ITEM_SAMPLES`
over `ACTION_ITEM_FIELDS`. A field added to any of them without a sample
here fails those tests until someone writes one and sees the field really
filter in each place.
"""

from __future__ import annotations

from typing import Any

import pytest

from indexer.filters import ACTION_ITEM_FIELDS, FIELDS, INCIDENT_FIELDS, SCOPE_FIELDS

# field name -> (front matter of "a", of "b", the filter value that picks "a", that picks "b")
SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any], str, str]] = {
    "service": ({"services": ["orders"]}, {"services": ["catalog"]}, "orders", "catalog"),
    "error_class": (
        {"error_classes": ["connection-pool-exhaustion"]},
        {"error_classes": ["certificate-expiry"]},
        "connection-pool-exhaustion",
        "certificate-expiry",
    ),
    "contributing_factor": (
        {"contributing_factors": ["missing-alert"]},
        {"contributing_factors": ["config-drift"]},
        "missing-alert",
        "config-drift",
    ),
    "severity": ({"severity": "SEV1"}, {"severity": "SEV3"}, "SEV1", "SEV3"),
    "type": ({"type": "outage"}, {"type": "near_miss"}, "outage", "near_miss"),
    "status": ({"status": "published"}, {"status": "draft"}, "published", "draft"),
    "team": ({"teams": ["payments"]}, {"teams": ["edge"]}, "payments", "edge"),
    "tag": ({"tags": ["kafka"]}, {"tags": ["dns"]}, "kafka", "dns"),
    "year": ({"date": "2024-05-02"}, {"date": "2025-05-02"}, "2024", "2025"),
}
NAMES = [field.name for field in FIELDS]

# Incident fields: keyword arguments of `indexer.incidents.model.Incident` for "a" and "b".
INCIDENT_SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any], str, str]] = {
    "source": ({"source": "csv"}, {"source": "pagerduty"}, "csv", "pagerduty"),
    "service": ({"service": "orders"}, {"service": "catalog"}, "orders", "catalog"),
    "severity": ({"severity": "SEV1"}, {"severity": "SEV3"}, "SEV1", "SEV3"),
    "error_class": (
        {"error_class": "connection-pool-exhaustion"},
        {"error_class": "certificate-expiry"},
        "connection-pool-exhaustion",
        "certificate-expiry",
    ),
}
# Trends and reviews narrow the same incidents.
SCOPE_SAMPLES = {name: INCIDENT_SAMPLES[name] for name in ("service", "error_class")}
# Action items: fields of a front-matter `action_items:` entry for "a" and "b".
ACTION_ITEM_SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any], str, str]] = {
    "status": ({"status": "open"}, {"status": "done"}, "open", "done"),
    "owner": ({"owner": "dana.whitfield"}, {"owner": "ravi.m"}, "dana.whitfield", "ravi.m"),
}
INCIDENT_NAMES = [field.name for field in INCIDENT_FIELDS]
SCOPE_NAMES = [field.name for field in SCOPE_FIELDS]
ACTION_ITEM_NAMES = [field.name for field in ACTION_ITEM_FIELDS]


def sample(
    name: str, samples: dict[str, tuple[dict[str, Any], dict[str, Any], str, str]] = SAMPLES
) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    if name not in samples:
        pytest.fail(f"filter field {name!r} has no sample in tests/filter_samples.py: add one")
    return samples[name]


def merged(
    samples: dict[str, tuple[dict[str, Any], dict[str, Any], str, str]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fields of "a" and "b" with every sample of `samples` applied."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    for first, second, _, _ in samples.values():
        a.update(first)
        b.update(second)
    return a, b


def pair() -> tuple[dict[str, Any], dict[str, Any]]:
    """Front matter of "a" and "b": every field set, each to a different value."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    for name in SAMPLES:
        a.update(SAMPLES[name][0])
        b.update(SAMPLES[name][1])
    return a, b
