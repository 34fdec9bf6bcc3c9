"""Every GET route's answers on the sample library, to compare two versions of the code.

A refactoring must not change what users see. Run this before and after it
and compare:

    .venv/bin/python benchmarks/api_snapshot.py before.json     # on the old commit
    .venv/bin/python benchmarks/api_snapshot.py after.json      # on the new one
    .venv/bin/python benchmarks/api_snapshot.py --compare before.json after.json

The app runs in-process (its real lifespan: indexing, incident history, the
embedder) on a copy of `postmortems/` in a temporary folder. Every GET route
the app declares is requested: JSON routes with a set of query variants
(search modes, each filter, paging, windows), path routes for every
postmortem id, incident and error class, and every HTML page. The script
stops when the app has a GET route with path parameters it has no requests for.
A second pass turns access control on (trusted proxy headers) and asks the
routes that decide access as an outsider, a member of a restricted
postmortem's audience and an admin; a third runs the CLI's `--json` commands
against the same library.
Values that change from run to run (timestamps of the run, latencies, request
counters) are blanked; see `VOLATILE`.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AS_OF = "2026-11-26"
QUERIES = [
    "connection pool exhaustion",
    "the database ran out of connections",
    "certificate expired",
    '"rate limit" -mobile',
    "dns",
]
FILTERS = [
    {"service": "orders"},
    {"error_class": "capacity-exhaustion"},
    {"contributing_factor": "missing-alert"},
    {"severity": "SEV2"},
    {"type": "incident"},
    {"status": "published"},
    {"team": "payments"},
    {"tag": "database"},
    {"year": "2025"},
    {"since": "2025-06-01"},
    {"until": "2025-06-01"},
    {"service": ["orders", "payments"], "severity": "SEV1"},
]
# Keys whose values depend on when the run happened, not on the code.
VOLATILE = {
    "indexed_at",
    "took_ms",
    "elapsed_ms",
    "generated_at",
    "checked_at",
    "last_sync_at",
    "at",
}
_CSRF = re.compile(r'name="csrf_token" value="[0-9a-f]+"')
_TIMING = re.compile(r"\b\d+(\.\d+)? ms\b")
_METRIC_LINE = re.compile(r"^(pml_http_|pml_request|python_|process_|pml_search_seconds)")


def _walk(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes)
        else:
            yield route


def get_routes(app: Any) -> list[str]:
    return sorted(
        {
            r.path
            for r in _walk(app.routes)
            if "GET" in (getattr(r, "methods", None) or ()) and not r.path.startswith("/static")
        }
    )


INCIDENT_FILTERS: list[dict[str, Any]] = [
    {"service": "orders"},
    {"service": ["orders", "payments"]},
    {"severity": "SEV1"},
    {"error_class": "capacity-exhaustion"},
    {"source": "csv"},
    {"since": "2026-01-01", "until": "2026-03-01"},
    {"limit": 5, "offset": 5},
    {"since": "not-a-date"},
]
TREND_FILTERS: list[dict[str, Any]] = [
    {"as_of": AS_OF, "service": "orders"},
    {"as_of": AS_OF, "error_class": "capacity-exhaustion"},
    {"as_of": AS_OF, "period": "quarter", "periods": 4},
]


def requests_for(
    path: str, ids: list[str], names: dict[str, list[str]]
) -> list[tuple[str, dict[str, Any]]]:
    """The requests that cover one route (path and query parameters)."""
    if path == "/api/incidents/{source}/{source_id}":
        out = [(f"/api/incidents/{key}", {}) for key in names["incidents"]]
        return [*out, ("/api/incidents/csv/no-such-incident", {})]
    if path in (
        "/api/incidents/{source}/{source_id}/seen-before",
        "/incidents/{source}/{source_id}",
    ):
        concrete = [path.replace("{source}/{source_id}", key) for key in names["incidents"]]
        missing = path.replace("{source}/{source_id}", "csv/no-such-incident")
        return [(url, {}) for url in [*concrete, missing]]
    if "{name}" in path and "error-classes" in path:
        out = [(path.replace("{name}", name), {}) for name in names["error_classes"]]
        return [*out, (path.replace("{name}", "no-such-class"), {})]
    if "{name}" in path and "services" in path:
        out = [(path.replace("{name}", name), {"as_of": AS_OF}) for name in names["services"]]
        return [*out, (path.replace("{name}", "no-such-service"), {})]
    if path == "/api/incidents" or path == "/incidents":
        return [(path, {}), *((path, dict(extra)) for extra in INCIDENT_FILTERS)]
    if path == "/feed.atom":
        out = [(path, {}), (path, {"q": "database"}), (path, {"q": "outage", "mode": "hybrid"})]
        return out + [(path, {"q": "outage", **extra}) for extra in FILTERS[:3]]
    if path.startswith("/api/trends/") and path.split("/")[-1] in ("mttr", "mtta", "mttd"):
        base = [(path, {"as_of": AS_OF}), (path, {"as_of": AS_OF, "days": 30}), (path, {})]
        return base + [(path, dict(extra)) for extra in TREND_FILTERS]
    if path == "/api/trends/error-budget":
        base = [(path, {"as_of": AS_OF}), (path, {})]
        return base + [(path, dict(extra)) for extra in TREND_FILTERS if "error_class" not in extra]
    if "{postmortem_id}" in path:
        out = []
        for identifier in ids:
            concrete = path.replace("{postmortem_id}", identifier)
            out.append((concrete, {}))
            if concrete.endswith("/related"):
                out.append((concrete, {"scope": "all", "limit": 10}))
            if concrete.endswith("/pack"):
                out.append((concrete, {"format": "markdown"}))
        out.append((path.replace("{postmortem_id}", "no-such-postmortem"), {}))
        return out
    if path == "/trends/{name}.csv":
        names = ["failure-modes", "services", "mttr", "error-budget", "nonsense"]
        return [(f"/trends/{n}.csv", {"as_of": AS_OF}) for n in names]
    if path == "/review/{cadence}":
        return [(f"/review/{c}", {"as_of": AS_OF}) for c in ("weekly", "monthly", "quarterly")]
    if path in ("/api/search", "/"):
        out = [(path, {})] if path == "/" else []
        for query in QUERIES:
            for mode in ("fulltext", "semantic", "hybrid"):
                out.append((path, {"q": query, "mode": mode}))
        for extra in FILTERS:
            out.append((path, {"q": "outage", **extra}))
        out.append((path, {"q": "database", "limit": 3, "offset": 2}))
        out.append((path, {"q": "(unbalanced"}))
        for sort in ("date", "relevance"):
            out.append((path, {"q": "database", "sort": sort}))
            out.append((path, {"q": "database", "sort": sort, "limit": 3, "offset": 2}))
        return out
    if path == "/api/postmortems":
        out = [(path, {}), (path, {"limit": 5, "offset": 5})]
        out += [(path, dict(extra)) for extra in FILTERS]
        return out
    if path.startswith(("/api/trends/", "/api/review/", "/api/targets", "/api/investments")):
        return [(path, {"as_of": AS_OF}), (path, {"as_of": AS_OF, "days": 30}), (path, {})]
    if path in ("/api/digest", "/digest", "/digest.md"):
        return [(path, {"week": "2026-W46"}), (path, {"week": "2025-W07"}), (path, {})]
    if path in ("/api/near-misses", "/near-misses", "/trends"):
        return [(path, {"as_of": AS_OF}), (path, {})]
    if path == "/api/action-items":
        return [(path, {}), (path, {"as_of": AS_OF}), (path, {"status": "open"})]
    if path == "/api/duplicates":
        return [(path, {}), (path, {"threshold": 0.6})]
    if "{" in path:
        raise SystemExit(f"no requests written for {path}: add them to requests_for()")
    return [(path, {})]


def _blank(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("*" if k in VOLATILE else _blank(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return value


def _body(response: Any) -> Any:
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/json"):
        return _blank(response.json())
    text = response.text
    if "openmetrics" in kind or "text/plain; version=" in kind:
        return [line for line in text.splitlines() if not _METRIC_LINE.match(line)]
    return _CSRF.sub('name="csrf_token" value="*"', _TIMING.sub("* ms", text)).splitlines()


def _wait_ready(client: Any, model: str) -> None:
    for _ in range(600):
        if client.get("/readyz").json().get("semantic") or model == "none":
            return
        time.sleep(0.1)


def _names(client: Any) -> dict[str, list[str]]:
    """Incident keys and error-class names to request path routes with."""
    incidents = client.get("/api/incidents", params={"limit": 100}).json()["items"]
    keys = [
        f"{item['source']}/{item['source_id']}"
        for item in incidents[:: max(1, len(incidents) // 8)]
    ]
    classes = sorted({name for item in incidents for name in item.get("error_classes") or []})
    services = sorted({item["service"] for item in incidents})
    return {"incidents": keys, "error_classes": classes[:6], "services": services[:6]}


# Routes whose answers depend on who asks, asked again with access control on.
ACCESS_ROUTES: list[tuple[str, dict[str, Any]]] = [
    ("/api/problems", {}),
    ("/api/postmortems", {"limit": 100}),
    ("/api/search", {"q": "credential stuffing"}),
    ("/api/search", {"q": "login", "sort": "date"}),
    ("/api/postmortems/2026-10-21-identity-credential-stuffing", {}),
    ("/api/postmortems/2026-10-21-identity-credential-stuffing/related", {}),
    ("/api/postmortems/2026-10-21-identity-credential-stuffing/pack", {}),
    ("/postmortems/2026-10-21-identity-credential-stuffing", {}),
    ("/api/incidents", {"service": "identity"}),
    ("/api/action-items", {"as_of": AS_OF}),
    ("/api/review/monthly", {"as_of": AS_OF}),
    ("/api/digest", {"week": "2026-W43"}),
    ("/api/error-classes/rate-limiting/pack", {}),
    ("/feed.atom", {"q": "login"}),
    ("/api/audit", {}),
    ("/api/intake/deliveries", {}),
    ("/api/services/identity", {"as_of": AS_OF}),
    ("/api/error-classes", {"as_of": AS_OF}),
]
READERS = {
    "outsider": {"x-forwarded-user": "olive", "x-forwarded-groups": "sre"},
    "audience": {"x-forwarded-user": "rhea", "x-forwarded-groups": "security"},
    "admin": {"x-forwarded-user": "ada", "x-forwarded-groups": "admins"},
}
CLI_COMMANDS = [
    ["search", "connection pool exhaustion", "--json"],
    ["search", "database", "--json", "--mode", "fulltext", "--limit", "3"],
    ["search", "outage", "--service", "orders", "--json"],
    ["show", "2025-02-11-orders-pgbouncer-pool-exhaustion", "--json"],
    ["show", "2026-03-09-checkout-hikari-pool-saturation", "--json"],
    ["related", "2026-03-09-checkout-hikari-pool-saturation", "--json"],
    ["related", "2025-02-11-orders-pgbouncer-pool-exhaustion", "--json", "--limit", "10"],
]


def _ask(
    client: Any, answers: dict[str, Any], label: str, path: str, params: dict[str, Any], **kw: Any
) -> None:
    response = client.get(path, params=params, **kw)
    key = f"{label}GET {path}?{json.dumps(params, sort_keys=True)}"
    answers[key] = {"status": response.status_code, "body": _body(response)}


def _cli(settings: Any, answers: dict[str, Any]) -> None:
    from click.testing import CliRunner

    from api.cli import main

    env = {"PML_LIBRARY": str(settings.library), "PML_DATA_DIR": str(settings.data_dir)}
    env["PML_EMBEDDING_MODEL"] = settings.embedding_model
    for command in CLI_COMMANDS:
        result = CliRunner().invoke(main, command, env=env)
        try:
            body: Any = _blank(json.loads(result.stdout))
        except ValueError:
            body = result.stdout.splitlines()
        answers[f"CLI pml {' '.join(command)}"] = {"status": result.exit_code, "body": body}


def snapshot(model: str) -> dict[str, Any]:
    os.environ["PML_EMBEDDING_MODEL"] = model
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("PML_ALLOWED_HOSTS", "testserver")  # the test client's Host header
    from fastapi.testclient import TestClient

    from api.app import create_app
    from indexer.config import Settings

    work = Path(tempfile.mkdtemp(prefix="pml-snapshot-"))
    try:
        library = work / "postmortems"
        shutil.copytree(ROOT / "postmortems", library)
        (library / "2026" / "broken-on-purpose.md").write_text("---\nid: [unclosed\n---\n")
        settings = Settings(library=library, data_dir=work / "data", embedding_model=model)
        app = create_app(settings)
        answers: dict[str, Any] = {}
        with TestClient(app) as client:
            _wait_ready(client, model)
            ids = [item["id"] for item in client.get("/api/postmortems?limit=100").json()["items"]]
            names = _names(client)
            for path in get_routes(app):
                for concrete, params in requests_for(path, ids, names):
                    _ask(client, answers, "", concrete, params)
        _cli(settings, answers)
        guarded = settings.model_copy(
            update={"auth": "proxy", "trusted_proxies": "127.0.0.1/32", "admin_group": "admins"}
        )
        app = create_app(guarded)
        with TestClient(app, client=("127.0.0.1", 50000)) as client:
            _wait_ready(client, model)
            for reader, headers in READERS.items():
                for path, params in ACCESS_ROUTES:
                    _ask(client, answers, f"{reader}: ", path, params, headers=headers)
        return answers
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _exact(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def compare(before_path: Path, after_path: Path) -> int:
    before = json.loads(before_path.read_text())
    after = json.loads(after_path.read_text())
    differing = 0
    for key in sorted(set(before) | set(after)):
        if key not in after:
            print(f"only before: {key}")
            differing += 1
        elif key not in before:
            print(f"only after: {key}")
            differing += 1
        elif _exact(before[key]) != _exact(after[key]):  # 3 and 3.0 differ
            differing += 1
            old = json.dumps(before[key], indent=1, sort_keys=True).splitlines()
            new = json.dumps(after[key], indent=1, sort_keys=True).splitlines()
            print(f"differs: {key}")
            for line in list(difflib.unified_diff(old, new, lineterm="", n=0))[2:12]:
                print(f"    {line[:200]}")
    print(f"{len(before)} requests before, {len(after)} after, {differing} differ")
    return 1 if differing else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, help="file to write the snapshot to")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    parser.add_argument(
        "--model", default="hash", help="embedding model (default: the test embedder)"
    )
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if args.out is None:
        parser.error("give a file to write, or --compare BEFORE AFTER")
    answers = snapshot(args.model)
    args.out.write_text(json.dumps(answers, indent=1, sort_keys=True))
    print(f"{len(answers)} requests written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
