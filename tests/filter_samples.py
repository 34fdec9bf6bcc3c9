"""Two postmortems, "a" and "b", that differ in every filter field of `indexer.filters.FIELDS`.

Search (every mode) and the database listing are tested over `FIELDS`, so a
field added there without a sample here fails those tests until someone
writes one and sees the field really filter in each place.
"""

from __future__ import annotations

from typing import Any

import pytest

from indexer.filters import FIELDS

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


def sample(name: str) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    if name not in SAMPLES:
        pytest.fail(f"filter field {name!r} has no sample in tests/filter_samples.py: add one")
    return SAMPLES[name]


def pair() -> tuple[dict[str, Any], dict[str, Any]]:
    """Front matter of "a" and "b": every field set, each to a different value."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    for name in SAMPLES:
        a.update(SAMPLES[name][0])
        b.update(SAMPLES[name][1])
    return a, b
