"""Real vendor payloads (tests/fixtures/vendors, see SOURCES.md), end to end over HTTP.

One test per row of issue 13's table: each failed on the importers that
existed before (refused, misread or silently lost data) and runs on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from indexer.config import Settings
from indexer.incidents import alerts
from tests.conftest import postmortem_text, write

VENDORS = Path(__file__).resolve().parent.parent / "fixtures" / "vendors"
HEADER = (
    "source_id,title,service,severity,started_at,detected_at,acknowledged_at,"
    "mitigated_at,resolved_at,error_class,error_budget_minutes,postmortem"
)
TAXONOMY = """\
services:
  - id: checkout
    aliases: [Checkout API, checkout-api-prod, f4b7b8a1-6b8c-4bb5-8c2e-3f0e6c1d9a21]
  - id: orders
  - id: mail
error_classes: [connection-pool-exhaustion, deployment-regression]
"""


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    write(settings.library, "taxonomy.yaml", TAXONOMY)
    settings.near_miss_window_minutes = 15
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def vendor(name: str) -> bytes:
    return (VENDORS / name).read_bytes()


def post(client: TestClient, source: str, data: bytes, **params: Any) -> dict[str, Any]:
    response = client.post(
        "/api/incidents/import", params={"source": source, **params}, content=data
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stored(client: TestClient, source: str, source_id: str) -> dict[str, Any]:
    response = client.get(f"/api/incidents/{source}/{source_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("order", ["incident first", "log entries first"])
def test_pagerduty_resolved_incident_gets_its_acknowledgement_from_the_log(
    client: TestClient, order: str
) -> None:
    # The REST list empties `acknowledgements` once resolved; only the log keeps the time.
    files = ["pagerduty_incident_resolved.json", "pagerduty_log_entries.json"]
    if order == "log entries first":
        files.reverse()
    reports = [post(client, "pagerduty", vendor(name)) for name in files]
    assert [r["rejected"] for r in reports] == [0, 0]
    incident = stored(client, "pagerduty", "PRORDTY")
    assert incident["acknowledged_at"] == "2017-09-26T15:15:17+00:00"
    assert incident["resolved_at"] == "2017-09-26T15:18:09+00:00"
    assert incident["started_at"] == "2017-09-26T15:14:36+00:00"
    assert incident["title"] == "My new incident"  # the incident record's, whatever the order
    mtta = client.get("/api/trends/mtta", params={"as_of": "2017-09-30"}).json()["series"][-1]
    assert mtta["mtta_seconds_median"] == 41


def test_pagerduty_account_wide_log_entries_are_read(client: TestClient) -> None:
    body = post(client, "pagerduty", vendor("pagerduty_log_entries_trigger.json"))
    assert (body["added"], body["rejected"]) == (1, 0)
    assert stored(client, "pagerduty", "PT4KHLK")["started_at"] == "2015-11-07T00:14:20+00:00"
    # Then the incident list: its own record wins for what it knows, and it warns
    # that a resolved incident without acknowledgements cannot be measured for MTTA.
    after = post(client, "pagerduty", vendor("pagerduty_rest_incidents.json"))
    assert (after["added"], after["updated"]) == (0, 1)
    assert "no acknowledgement time" in after["warnings"][0]["message"]
    incident = stored(client, "pagerduty", "PT4KHLK")
    assert incident["started_at"] == "2015-10-06T21:30:42+00:00"
    assert incident["service"] == "my-mail-service" and incident["severity"] == "SEV2"


def test_pagerduty_analytics_export_uses_its_time_zone(client: TestClient) -> None:
    body = post(client, "pagerduty", vendor("pagerduty_analytics_raw_incidents.json"))
    # The second published example resolves a day before it was created: the incident is
    # kept (it happened, it counts) and the impossible resolution is left out, by name.
    assert (body["added"], body["rejected"]) == (2, 0)
    warning = body["warnings"][0]
    assert warning["row"] == 1 and "resolved_at" in warning["message"]
    assert "out of order" in warning["message"]
    incident = stored(client, "pagerduty", "PYC0H08")
    assert incident["started_at"] == "2023-05-31T10:05:00+00:00"  # "Etc/UTC", given once
    assert incident["acknowledged_at"] == "2023-05-31T10:05:05+00:00"
    assert incident["severity"] == "SEV4"  # priority_name null, urgency low


def test_pagerduty_urgency_gives_the_severity_when_priority_is_absent(client: TestClient) -> None:
    post(client, "pagerduty", vendor("pagerduty_incident_resolved.json"))
    assert stored(client, "pagerduty", "PRORDTY")["severity"] == "SEV2"  # urgency high
    post(client, "pagerduty", vendor("pagerduty_incident_resolved.json"), urgency="high=SEV1")
    assert stored(client, "pagerduty", "PRORDTY")["severity"] == "SEV1"  # the rule is settable
    response = client.post(
        "/api/incidents/import",
        params={"source": "pagerduty", "urgency": "high=urgent"},
        content=vendor("pagerduty_incident_resolved.json"),
    )
    assert response.status_code == 400 and "high=urgent" in response.json()["detail"]


@pytest.mark.parametrize("joiner", ["concatenated", "one per line"])
def test_pagerduty_pages_in_one_file(client: TestClient, joiner: str) -> None:
    first = json.loads(vendor("pagerduty_rest_incidents.json"))
    second = {"incidents": [json.loads(vendor("pagerduty_incident_resolved.json"))["incident"]]}
    if joiner == "concatenated":
        data = (json.dumps(first, indent=2) + json.dumps(second, indent=2)).encode()
    else:
        data = (json.dumps(first) + "\n" + json.dumps(second) + "\n").encode()
    body = post(client, "pagerduty", data)
    assert (body["added"], body["rejected"]) == (2, 0)


def test_opsgenie_repeated_alert_is_merged_with_a_warning(client: TestClient) -> None:
    body = post(client, "opsgenie", vendor("opsgenie_alerts_paged.json"))
    assert (body["added"], body["rejected"]) == (2, 0)
    repeat = [w for w in body["warnings"] if "repeats record 0" in w["message"]]
    assert len(repeat) == 1 and repeat[0]["row"] == 2
    alert = stored(client, "opsgenie", "70413a06-38d6-4c85-92b8-5ebc900d42e2")
    assert alert["resolved_at"] == "2026-09-14T10:47:41.284000+00:00"  # closed on page 2
    assert alert["acknowledged_at"] == "2026-09-14T10:06:41.284000+00:00"


def test_opsgenie_epoch_millisecond_times(client: TestClient) -> None:
    post(client, "opsgenie", vendor("opsgenie_alerts_paged.json"))
    alert = stored(client, "opsgenie", "9a7c1d44-5f7e-4d3c-8d63-0f2b6f1f6e10")
    assert alert["started_at"] == "2026-09-14T11:22:00+00:00"
    assert alert["resolved_at"] == "2026-09-14T11:43:00+00:00"  # closeTime 1,260,000 ms


def test_opsgenie_incident_is_never_resolved_by_updated_at(client: TestClient) -> None:
    body = post(client, "opsgenie", vendor("opsgenie_incidents.json"))
    assert body["added"] == 2
    assert any("resolved with no resolve time" in w["message"] for w in body["warnings"])
    incident = stored(client, "opsgenie", "8a6e1b2c-77a1-4e0c-9a57-1f3a2b4c5d6e")
    assert incident["resolved_at"] is None  # not updatedAt, 13 days later
    assert incident["service"] == "checkout"  # its impactedServices UUID is an alias
    other = stored(client, "opsgenie", "3c0e4a1f-2b9d-4f5e-8a7b-6c5d4e3f2a10")
    assert other["service"] == "0b1c2d3e-4f50-4617-8283-94a5b6c7d8e9"  # kept, and listed:
    assert body["unmapped_services"] == ["0b1c2d3e-4f50-4617-8283-94a5b6c7d8e9"]
    mttr = client.get("/api/trends/mttr", params={"as_of": "2026-09-30"}).json()["series"][-1]
    assert mttr["measured"] == 0


def test_firehydrant_lifecycle_phases_and_deprecated_milestones(client: TestClient) -> None:
    body = post(client, "firehydrant", vendor("firehydrant_incidents_lifecycle.json"))
    assert (body["added"], body["rejected"]) == (2, 0)
    current = stored(client, "firehydrant", "0e8f3a2b-4c5d-4e6f-8a9b-0c1d2e3f4a5b")
    assert current["detected_at"] == "2026-10-05T09:05:00+00:00"
    assert current["acknowledged_at"] == "2026-10-05T09:08:00+00:00"
    assert current["mitigated_at"] == "2026-10-05T09:30:00+00:00"
    assert current["resolved_at"] == "2026-10-05T10:00:00+00:00"
    assert current["service"] == "checkout" and current["severity"] == "SEV2"
    old = stored(client, "firehydrant", "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d")
    assert old["acknowledged_at"] == "2025-02-11T16:50:00+00:00"
    assert old["service"] == "orders"


def send_alerts(client: TestClient, payload: Any) -> dict[str, Any]:
    response = client.post("/api/alerts/alertmanager", json=payload)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_alertmanager_without_fingerprint_or_alert_status(client: TestClient) -> None:
    payload = json.loads(vendor("alertmanager_msteams_prom_post_request.json"))
    assert send_alerts(client, payload)["new"] == 1
    again = send_alerts(client, payload)  # the computed fingerprint is stable
    assert (again["new"], again["duplicates"]) == (0, 1)
    two = send_alerts(
        client, json.loads(vendor("alertmanager_msteams_prom_post_request_2_alerts.json"))
    )
    assert (two["new"], two["errors"]) == (2, [])


def test_fingerprint_is_alertmanagers() -> None:
    # prometheus/common model/signature_test.go: TestMetricToFingerprint and the benchmarks
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert int(alerts.fingerprint(labels), 16) == 5799056148416392346
    assert int(alerts.fingerprint({}), 16) == 14695981039346656037
    three = {f"{n}-label": f"{n}-label-value" for n in ("first", "second", "third")}
    assert int(alerts.fingerprint(three), 16) == 13843036195897128121


def _instance(host: str, status: str, starts: str, ends: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "CheckoutLatencyHigh",
            "service": "checkout-api-prod",
            "instance": host,
            "severity": "page",
        },
        "annotations": {"summary": "p99 latency above 2 s"},
        "startsAt": starts,
        "endsAt": ends,
    }


def test_one_alert_on_three_instances_flapping_is_one_near_miss(client: TestClient) -> None:
    hosts = ("web-1:9100", "web-2:9100", "web-3:9100")
    firings = [("2025-05-01T10:00:00Z", "2025-05-01T10:04:00Z"),
               ("2025-05-01T10:09:00Z", "2025-05-01T10:12:00Z")]  # fmt: skip
    for starts, ends in firings:
        alerts_ = [_instance(h, "resolved", starts, ends) for h in hosts]
        send_alerts(client, {"version": "4", "status": "resolved", "alerts": alerts_})
    groups = client.get("/api/near-misses", params={"as_of": "2025-05-01"}).json()["groups"]
    assert len(groups) == 1
    group = groups[0]
    assert group["count"] == 1 and not group["postmortem_recommended"]
    assert group["service"] == "checkout"  # through the taxonomy alias
    assert "fired 6 times on 3 instances" in group["entries"][0]["caught_by"]


def test_csv_header_problems_are_named(client: TestClient) -> None:
    misspelled = HEADER.replace("severity", "severty").replace("started_at,", "startedat,")
    response = client.post(
        "/api/incidents/import", params={"source": "csv"}, content=f"{misspelled}\n".encode()
    )
    detail = response.json()["detail"]
    assert response.status_code == 400
    assert "missing column started_at" in detail
    assert "unknown column 'severty' (did you mean severity?)" in detail
    assert "unknown column 'startedat' (did you mean started_at?)" in detail


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_csv_trailing_columns_semicolons_local_times_and_severity_words(
    client: TestClient, delimiter: str
) -> None:
    rows = [
        HEADER + ",,",  # two empty trailing columns, as spreadsheets save them
        "INC-1,Checkout down,Checkout API,P2,2025-03-03 10:00:00,,2025-03-03 10:05:00,,"
        "2025-03-03 11:00:00,,,,,",
        "INC-2,Orders slow,orders,high,2025-03-04T10:00:00Z,,,,,,,,,",
    ]
    data = "\n".join(row.replace(",", delimiter) for row in rows).encode()
    body = post(client, "csv", data, timezone="Europe/Berlin")
    assert (body["added"], body["rejected"]) == (2, 0), body
    first = stored(client, "csv", "INC-1")
    assert first["started_at"] == "2025-03-03T09:00:00+00:00"  # 10:00 in Berlin, winter
    assert (first["service"], first["severity"]) == ("checkout", "SEV2")
    assert stored(client, "csv", "INC-2")["severity"] == "SEV2"


def test_http_import_takes_a_multipart_file(client: TestClient) -> None:
    files = {
        "file": ("incidents.json", vendor("pagerduty_rest_incidents.json"), "application/json")
    }
    response = client.post("/api/incidents/import", params={"source": "pagerduty"}, files=files)
    assert response.status_code == 200, response.text
    assert response.json()["added"] == 1
    empty = client.post(
        "/api/incidents/import", params={"source": "pagerduty"}, data={"note": "x"},
        files={"other": ("", b"", "text/plain")},
    )  # fmt: skip
    assert empty.status_code == 400


def test_one_service_across_three_tools(client: TestClient, settings: Settings) -> None:
    post(client, "opsgenie", vendor("opsgenie_alerts_paged.json"))  # tag "service:Checkout API"
    post(client, "opsgenie", vendor("opsgenie_incidents.json"))  # impactedServices UUID
    post(client, "firehydrant", vendor("firehydrant_incidents_lifecycle.json"))  # "Checkout API"
    csv = f"{HEADER}\nINC-9,Checkout 500s,checkout-api-prod,SEV3,2026-09-21T10:00:00Z,,,,,,,\n"
    post(client, "csv", csv.encode())
    names = client.get("/api/trends/services", params={"as_of": "2026-10-31", "days": 90}).json()
    counts = {item["service"]: item["incidents"] for item in names["items"]}
    assert counts["checkout"] == 4 and "checkout-api" not in counts
    assert not any(name.startswith("checkout-") for name in counts)


def test_mapping_a_name_later_moves_its_history(
    client: TestClient, settings: Settings, open_library: Any
) -> None:
    post(client, "pagerduty", vendor("pagerduty_incident_resolved.json"))
    logged = {"date": "2017-09-26", "service": "Production XDB Cluster",
              "what_failed": "replica lag", "caught_by": "a canary"}  # fmt: skip
    assert client.post("/api/near-misses", json=logged).status_code == 201
    unmapped = client.get("/api/services/unmapped").json()["items"]
    assert [u["service"] for u in unmapped] == ["production-xdb-cluster"]
    page = client.get("/incidents")
    assert page.status_code == 200 and "production-xdb-cluster" in page.text
    # The PagerDuty service id and name become aliases of orders; the next index re-attributes.
    aliases = "  - id: orders\n    aliases: [PN49J75, Production XDB Cluster]\n"
    taxonomy = TAXONOMY.replace("  - id: orders\n", aliases)
    write(settings.library, "taxonomy.yaml", taxonomy)
    open_library(settings).refresh()
    assert stored(client, "pagerduty", "PRORDTY")["service"] == "orders"
    assert client.get("/api/services/unmapped").json()["items"] == []
    counts = client.get("/api/trends/services", params={"as_of": "2017-09-30", "days": 30})
    assert counts.json()["items"] == [{"service": "orders", "incidents": 1}]
    groups = client.get("/api/near-misses", params={"as_of": "2017-09-30"}).json()["groups"]
    assert [g["service"] for g in groups] == ["orders"]  # the near-miss moved too


def test_cli_lists_unmapped_services_and_dry_runs(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PML_LIBRARY", str(settings.library))
    monkeypatch.setenv("PML_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PML_DATABASE_URL", settings.resolved_database_url)
    runner = CliRunner()
    fixture = str(VENDORS / "opsgenie_incidents.json")
    dry = runner.invoke(main, ["import", "incidents", fixture, "--source", "opsgenie", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2 would be added, 0 would be updated" in dry.output
    assert client.get("/api/incidents").json()["total"] == 0  # nothing written
    real = runner.invoke(main, ["import", "incidents", fixture, "--source", "opsgenie"])
    assert "2 added" in real.output and "warning: 8a6e1b2c" in real.output
    again = post(client, "opsgenie", vendor("opsgenie_incidents.json"), dry_run="true")
    assert (again["dry_run"], again["added"], again["updated"]) == (True, 0, 2)
    listed = runner.invoke(main, ["services", "unmapped"])
    assert listed.exit_code == 0
    assert listed.output.startswith("0b1c2d3e-4f50-4617-8283-94a5b6c7d8e9\t1\topsgenie")


PROXY = "10.0.0.5"
OUTSIDER = {"X-Forwarded-User": "ann"}
INSIDER = {"X-Forwarded-User": "sec", "X-Forwarded-Groups": "security"}


def test_incident_list_filters_pages_and_hides_restricted_postmortems(settings: Settings) -> None:
    secret = "2026-09-20-card-keys"
    write(settings.library, "taxonomy.yaml", TAXONOMY)
    write(settings.library, "2026/secret.md", postmortem_text(
        id=secret, title="Card keys rotated wrongly", date="2026-09-20", visibility="restricted",
        audience=["security"], services=["checkout"], error_classes=["connection-pool-exhaustion"],
        external_refs={"opsgenie": ["3c0e4a1f-2b9d-4f5e-8a7b-6c5d4e3f2a10"]},
    ))  # fmt: skip
    secured = settings.model_copy(update={"auth": "proxy", "trusted_proxies": f"{PROXY}/32"})
    with TestClient(create_app(secured), client=(PROXY, 4321)) as client:
        for name in ("opsgenie_incidents.json", "opsgenie_alerts_paged.json"):
            reply = client.post("/api/incidents/import", params={"source": "opsgenie"},
                                content=vendor(name), headers=INSIDER)  # fmt: skip
            assert reply.status_code == 200, reply.text
        _check_list(client)
        linked = "/api/incidents/opsgenie/3c0e4a1f-2b9d-4f5e-8a7b-6c5d4e3f2a10"
        inside = client.get(linked, headers=INSIDER).json()
        assert inside["postmortem"] == secret
        # Error classes are shared figures (trends, reviews, /metrics): an incident takes
        # them only from postmortems everyone may read, so insiders see the source's own.
        assert inside["error_classes"] == ["unclassified"]
        # An outsider sees it as if the restricted postmortem did not exist.
        outside = client.get(linked, headers=OUTSIDER).json()
        assert (outside["postmortem"], outside["error_classes"]) == (None, ["unclassified"])
        pool = {"error_class": "connection-pool-exhaustion"}
        insiders = client.get("/api/incidents", params=pool, headers=INSIDER).json()
        outsiders = client.get("/api/incidents", params=pool, headers=OUTSIDER).json()
        assert (insiders["total"], outsiders["total"]) == (1, 1)
        unclassified = {"error_class": "unclassified"}
        seen = client.get("/api/incidents", params=unclassified, headers=OUTSIDER).json()
        assert "3c0e4a1f-2b9d-4f5e-8a7b-6c5d4e3f2a10" in [i["source_id"] for i in seen["items"]]
        html = client.get("/incidents", headers=OUTSIDER).text
        assert secret not in html and "Card keys" not in html
        assert secret in client.get("/incidents", headers=INSIDER).text


def _check_list(client: TestClient) -> None:
    page = client.get("/api/incidents", params={"limit": 2}, headers=OUTSIDER).json()
    assert page["total"] == 4 and len(page["items"]) == 2
    assert set(page["items"][0]) >= {
        "source", "source_id", "title", "service", "severity", "started_at", "detected_at",
        "acknowledged_at", "mitigated_at", "resolved_at", "error_classes", "postmortem",
    }  # fmt: skip
    rest = client.get("/api/incidents", params={"limit": 2, "offset": 2}, headers=OUTSIDER)
    first = {i["source_id"] for i in page["items"]}
    assert first.isdisjoint({i["source_id"] for i in rest.json()["items"]})
    sev1 = client.get("/api/incidents", params={"service": "checkout", "severity": "SEV1"})
    assert [i["source_id"] for i in sev1.json()["items"]] == [
        "8a6e1b2c-77a1-4e0c-9a57-1f3a2b4c5d6e"
    ]
    window = client.get("/api/incidents", params={"since": "2026-09-15", "until": "2026-09-30"})
    assert [i["source_id"] for i in window.json()["items"]] == [
        "3c0e4a1f-2b9d-4f5e-8a7b-6c5d4e3f2a10"
    ]
    assert client.get("/api/incidents", params={"source": "pagerduty"}).json()["total"] == 0
    assert client.get("/api/incidents/opsgenie/nope").status_code == 404
    wrong = client.get("/api/incidents", params={"since": "2026-10-01", "until": "2026-09-01"})
    assert wrong.status_code == 422


def test_log_entries_of_an_unknown_incident_are_refused_by_name(client: TestClient) -> None:
    entries = json.loads(vendor("pagerduty_log_entries.json"))["log_entries"]
    without_trigger = [e for e in entries if e["type"] != "trigger_log_entry"]
    data = json.dumps({"log_entries": without_trigger}).encode()
    response = client.post("/api/incidents/import", params={"source": "pagerduty"}, content=data)
    assert response.status_code == 422  # nothing could be stored, and it says why
    error = response.json()["errors"][0]
    assert "PRORDTY" in error["message"] and "import it first" in error["message"]
    post(client, "pagerduty", vendor("pagerduty_incident_resolved.json"))
    assert post(client, "pagerduty", data)["updated"] == 1  # now they complete it
    assert stored(client, "pagerduty", "PRORDTY")["acknowledged_at"] == "2017-09-26T15:15:17+00:00"


def test_csv_with_an_unnamed_column_in_the_middle(client: TestClient) -> None:
    header = HEADER.replace("title,", "title,,")
    rows = [header, "X,t,,orders,SEV2,2025-01-01T00:00:00Z,,,,,,,", "W,t,,orders,SEV2"]
    body = client.post("/api/incidents/import", params={"source": "csv"},
                       content="\n".join(rows).encode()).json()  # fmt: skip
    assert (body["added"], body["errors"]) == (
        1,
        [{"row": 3, "message": "expected 13 columns, found 5"}],
    )
