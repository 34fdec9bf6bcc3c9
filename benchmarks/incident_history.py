"""Generate an incident history in the canonical CSV format, consistent with a postmortem library.

    python benchmarks/incident_history.py                    # rewrites postmortems/incidents.csv
    python benchmarks/incident_history.py --count 100000 --out /tmp/big.csv

Every postmortem's PagerDuty ids become incidents with the postmortem's own
times, severity and error budget (error class left empty, so it comes from
the postmortem). Around them go smaller incidents without postmortems, over
the same services and error classes, with a fixed seed so the file is the
same on every run. Per-class rates follow the stories in
postmortems/targets.yaml: pool exhaustion falls after its investment,
certificate expiry does not, retry storms fall slowly.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.format import files as folder
from indexer.format.postmortem import Postmortem
from indexer.incidents.importers.canonical_csv import HEADER

ROOT = Path(__file__).resolve().parent.parent
START = dt.datetime(2024, 12, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
# Which failure modes each service plausibly has, most likely first.
SERVICE_CLASSES = {
    "api-gateway": [
        "rate-limiting",
        "certificate-expiry",
        "capacity-exhaustion",
        "bad-config-change",
    ],
    "storefront": ["cache-stampede", "deployment-regression", "memory-leak", "dependency-outage"],
    "checkout": [
        "deployment-regression",
        "connection-pool-exhaustion",
        "memory-leak",
        "retry-storm",
    ],
    "payments": ["dependency-outage", "retry-storm", "certificate-expiry", "deployment-regression"],
    "orders": ["connection-pool-exhaustion", "database-failover", "schema-migration", "disk-full"],
    "inventory": ["connection-pool-exhaustion", "database-failover", "deployment-regression"],
    "catalog": ["cache-stampede", "schema-migration", "connection-pool-exhaustion"],
    "search": ["memory-leak", "retry-storm", "queue-backlog", "bad-config-change"],
    "identity": ["certificate-expiry", "rate-limiting", "clock-skew", "deployment-regression"],
    "notifications": ["queue-backlog", "retry-storm", "dependency-outage"],
    "data-pipeline": ["queue-backlog", "disk-full", "clock-skew", "capacity-exhaustion"],
    "platform": ["dns-failure", "capacity-exhaustion", "certificate-expiry", "disk-full"],
}
SERVICE_WEIGHTS = [6, 5, 5, 4, 6, 3, 3, 4, 4, 4, 4, 5]
SEVERITY_WEIGHTS = {"SEV2": 1, "SEV3": 5, "SEV4": 12}
MEDIAN_RESOLVE_MINUTES = {"SEV2": 75, "SEV3": 40, "SEV4": 25}
FAILURE_TITLES = {
    "connection-pool-exhaustion": "connection pool saturated",
    "retry-storm": "retry amplification against a dependency",
    "memory-leak": "pods OOMKilled",
    "certificate-expiry": "TLS handshake failures",
    "bad-config-change": "errors after a config push",
    "deployment-regression": "error rate up after deploy",
    "dns-failure": "DNS resolution errors",
    "disk-full": "volume above 95%",
    "dependency-outage": "third-party provider errors",
    "database-failover": "replica lag after failover",
    "queue-backlog": "consumer lag growing",
    "cache-stampede": "cache hit ratio collapsed",
    "schema-migration": "migration holding locks",
    "capacity-exhaustion": "CPU saturation, autoscaler at max",
    "rate-limiting": "legitimate traffic throttled (HTTP 429)",
    "clock-skew": "clock skew between nodes",
}


def class_rate(error_class: str, when: dt.datetime) -> float:
    """A multiplier on a class's base rate at `when`: the trends targets.yaml describes."""
    years = (when - START).days / 365.25
    if error_class == "connection-pool-exhaustion":
        return 2.2 if when < dt.datetime(2025, 7, 1, tzinfo=dt.UTC) else 0.3
    if error_class == "retry-storm":
        return 1.8 if years < 1 else max(0.7, 1.8 - (years - 1) * 1.4)
    if error_class == "certificate-expiry":
        return 1.2
    if error_class == "cache-stampede":
        return 1.6 if when < dt.datetime(2026, 1, 1, tzinfo=dt.UTC) else 1.2
    return 1.0


def _minutes(rng: random.Random, median: float, spread: float = 0.8) -> float:
    return max(1.0, rng.lognormvariate(math.log(median), spread))


def _stamp(moment: dt.datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


def postmortem_rows(postmortems: list[Postmortem]) -> list[list[str]]:
    rows = []
    for postmortem in postmortems:
        stamps = {k: v.astimezone(dt.UTC) for k, v in postmortem.timestamps.items()}
        started = stamps.get("started_at") or dt.datetime.combine(
            postmortem.date, dt.time(12), tzinfo=dt.UTC
        )
        for ref in postmortem.external_refs.get("pagerduty", []):
            budget = postmortem.error_budget_minutes
            rows.append(
                [
                    ref,
                    postmortem.title[:120],
                    (postmortem.services or ["unknown"])[0],
                    postmortem.severity or "",
                    _stamp(started),
                    *(_stamp(stamps.get(name)) for name in HEADER[5:9]),
                    "",
                    "" if budget is None else f"{budget:g}",
                    postmortem.id,
                ]
            )
    return rows


def small_incident(rng: random.Random, number: int, when: dt.datetime, speedup: float) -> list[str]:
    """One incident without a postmortem: SEV3/SEV4 mostly, minutes to a couple of hours."""
    service = rng.choices(list(SERVICE_CLASSES), SERVICE_WEIGHTS)[0]
    choices = SERVICE_CLASSES[service]
    weights = [class_rate(c, when) / (position + 1) for position, c in enumerate(choices)]
    error_class = rng.choices(choices, weights)[0]
    severity = rng.choices(list(SEVERITY_WEIGHTS), list(SEVERITY_WEIGHTS.values()))[0]
    detected = when + dt.timedelta(minutes=_minutes(rng, 3, 0.9) - 1)
    acknowledged = detected + dt.timedelta(minutes=_minutes(rng, 4, 0.7))
    resolve = _minutes(rng, MEDIAN_RESOLVE_MINUTES[severity] * speedup)
    resolved = max(acknowledged, when + dt.timedelta(minutes=resolve))
    mitigated = when + (resolved - when) * rng.uniform(0.4, 0.9)
    mitigated = max(mitigated, acknowledged)
    budget = "" if severity == "SEV4" else f"{round(resolve * rng.uniform(0.2, 0.8)):d}"
    title = f"{service}: {FAILURE_TITLES[error_class]}"
    # One in twenty vendor records comes without a detection or acknowledgement time.
    missing = rng.random() < 0.05
    return [
        f"P{number:07d}",
        title,
        service,
        severity,
        _stamp(when),
        "" if missing else _stamp(detected),
        "" if missing else _stamp(acknowledged),
        _stamp(mitigated),
        _stamp(resolved),
        error_class,
        budget,
        "",
    ]


def generate(count: int, postmortems: list[Postmortem], seed: int = 2024) -> list[list[str]]:
    """`count` small incidents spread over START..END plus the postmortems' incidents."""
    rng = random.Random(seed)
    span = (END - START).total_seconds()
    rows = postmortem_rows(postmortems)
    for number in range(count):
        when = START + dt.timedelta(seconds=rng.uniform(0, span))
        when = when.replace(second=0, microsecond=0)
        # Responders get faster as runbooks mature: about 25% over the two years.
        speedup = 1.0 - 0.25 * (when - START).total_seconds() / span
        rows.append(small_incident(rng, number, when, speedup))
    rows.sort(key=lambda row: (row[4], row[0]))
    return rows


def write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=900, help="incidents without postmortems")
    parser.add_argument("--library", type=Path, default=ROOT / "postmortems")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    scan = folder.scan(args.library)
    rows = generate(args.count, scan.postmortems)
    out = args.out or args.library / "incidents.csv"
    write(out, rows)
    print(f"wrote {len(rows)} incidents to {out}")


if __name__ == "__main__":
    main()
