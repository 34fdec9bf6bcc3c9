"""Generate a synthetic postmortem library of any size for benchmarks.

Every file passes `pml lint` (the merge gate: known services and teams,
dates that agree). The text is assembled from the sample taxonomy and a few
hundred words of incident vocabulary, so term statistics look like a real
library: common words everywhere, service and failure-mode words clustered.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TAXONOMY = yaml.safe_load((ROOT / "postmortems" / "taxonomy.yaml").read_text())
SERVICES = [s["id"] for s in TAXONOMY["services"]]
OWNERS = {s["id"]: s["team"] for s in TAXONOMY["services"]}  # lint knows only these teams
ERROR_CLASSES = TAXONOMY["error_classes"]
FACTORS = [f["id"] for f in TAXONOMY["contributing_factors"]]
WORDS = (
    "request latency error rate timeout retry queue backlog database replica primary "
    "failover connection pool cache miss deploy rollback canary config flag certificate "
    "expiry disk volume memory leak heap pod node cluster kubernetes autoscaler quota "
    "throttling alert pager dashboard runbook customer checkout payment order login "
    "search index shard lag consumer producer topic partition dns resolver gateway proxy "
    "load balancer health check saturation cpu thread lock migration schema batch job "
    "nightly export vendor provider sms email push notification session token key"
).split()
SECTIONS = (
    "Summary",
    "Impact",
    "Timeline",
    "Contributing factors",
    "Detection",
    "Response and recovery",
    "Lessons learned",
    "Action items",
)


def _sentence(rng: random.Random, extra: list[str]) -> str:
    words = [rng.choice(WORDS if rng.random() > 0.25 else extra) for _ in range(rng.randint(8, 18))]
    return " ".join(words).capitalize() + "."


def postmortem(number: int, rng: random.Random) -> tuple[str, str]:
    """(relative path, file text) of synthetic postmortem `number`."""
    error_class = rng.choice(ERROR_CLASSES)
    services = rng.sample(SERVICES, rng.randint(1, 2))
    extra = [
        *error_class["title"].lower().split(),
        *(" ".join(error_class["aliases"]).split()),
        *services,
    ]
    started = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(
        minutes=rng.randint(0, 3 * 365 * 24 * 60)
    )
    detected = started + timedelta(minutes=rng.randint(1, 30))
    resolved = detected + timedelta(minutes=rng.randint(10, 300))
    identifier = f"{started:%Y-%m-%d}-synthetic-{number:06d}"
    front = {
        "schema": 1,
        "id": identifier,
        "title": f"{services[0]} {error_class['title'].lower()} {rng.choice(WORDS)} {number}",
        "date": f"{started:%Y-%m-%d}",
        "status": "published",
        "severity": rng.choice(["SEV1", "SEV2", "SEV3", "SEV3", "SEV4"]),
        "type": rng.choice(["outage", "degradation", "near_miss"]),
        "services": services,
        "teams": [OWNERS[services[0]]],
        "error_classes": [error_class["id"]],
        "contributing_factors": rng.sample(FACTORS, 2),
        "timestamps": {
            "started_at": started.isoformat(),
            "detected_at": detected.isoformat(),
            "resolved_at": resolved.isoformat(),
        },
        "impact": {
            "customer_facing": rng.random() > 0.3,
            "error_budget_minutes": rng.randint(0, 240),
        },
        "external_refs": {"pagerduty": [f"PS{number:06d}"]},
        "action_items": [
            {
                "id": "AI-1",
                "title": _sentence(rng, extra),
                "type": "prevent",
                "owner": "owner.name",
                "due": f"{resolved:%Y-%m-%d}",
                "status": "done",
            }
        ],
    }
    body = "\n".join(
        f"## {heading}\n" + " ".join(_sentence(rng, extra) for _ in range(rng.randint(2, 5))) + "\n"
        for heading in SECTIONS
    )
    header = yaml.safe_dump(front, sort_keys=False)
    return f"{started:%Y}/{identifier}.md", f"---\n{header}---\n{body}"


def generate(folder: Path, count: int, seed: int = 7) -> Path:
    """Write `count` postmortems (and the sample taxonomy) into `folder`."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "taxonomy.yaml").write_text((ROOT / "postmortems" / "taxonomy.yaml").read_text())
    for number in range(count):
        relative, text = postmortem(number, rng)
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder
