"""Every trend figure against values worked out by hand on a small incident history.

The history (UTC unless noted):

    A orders    2025-01-10 10:00, detected +6 min, ack +10, resolved +60 min; pool; 30 budget min
    B orders    2025-01-20 23:30-05:00 (= 01-21 04:30 UTC), resolved +120 min; class from postmortem
    C identity  2025-01-31 23:00-02:00 (= 02-01 01:00 UTC), resolved +60 min; cert; 60 min
    D identity  2025-02-10 00:00, resolved +30 min; cert; 10 min
    E identity  2025-02-11 00:00, resolved +180 min; cert
    G orders    2025-03-30 10:00, resolved 2025-04-01 10:00 (after as_of 03-31); no class
    F orders    2025-03-31 23:00, never resolved; no class
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.config import Settings
from indexer.db import store
from indexer.reports import metrics, targets
from tests.conftest import postmortem_text, write

HEADER = (
    "source_id,title,service,severity,started_at,detected_at,acknowledged_at,"
    "mitigated_at,resolved_at,error_class,error_budget_minutes,postmortem"
)
HISTORY = f"""{HEADER}
A,Pool,orders,SEV2,2025-01-10T10:00:00Z,2025-01-10T10:06:00Z,2025-01-10T10:10:00Z,,2025-01-10T11:00:00Z,connection-pool-exhaustion,30,
B,Pool again,orders,SEV3,2025-01-20T23:30:00-05:00,,,,2025-01-21T06:30:00Z,,,pool
C,Cert,identity,SEV2,2025-01-31T23:00:00-02:00,,,,2025-02-01T02:00:00Z,certificate-expiry,60,
D,Cert,identity,SEV3,2025-02-10T00:00:00Z,,,,2025-02-10T00:30:00Z,certificate-expiry,10,
E,Cert,identity,SEV3,2025-02-11T00:00:00Z,,,,2025-02-11T03:00:00Z,certificate-expiry,,
G,Slow,orders,SEV4,2025-03-30T10:00:00Z,,,,2025-04-01T10:00:00Z,,,
F,Open,orders,SEV4,2025-03-31T23:00:00Z,,,,,,,
"""
LATER = f"""{HEADER}
H,Quick,orders,SEV4,2025-04-15T10:00:00Z,,,,2025-04-15T10:10:00Z,,,
I,Quick,orders,SEV4,2025-06-15T10:00:00Z,,,,2025-06-15T10:20:00Z,,,
"""
TARGETS = """schema: 1
targets:
  - id: cert-to-1
    error_class: certificate-expiry
    baseline: 3
    target: 1
    start: 2025-Q1
    deadline: 2025-Q2
    owner: platform
    investment: cert-manager
"""


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    write(
        settings.library,
        "2025/pool.md",
        postmortem_text(
            id="pool",
            date="2025-01-21",
            error_classes=["connection-pool-exhaustion"],
            mitigation_maturity="runbook",
        ),
    )
    write(settings.library, "targets.yaml", TARGETS)
    with TestClient(create_app(settings)) as test_client:
        response = test_client.post(
            "/api/incidents/import", params={"source": "csv"}, content=HISTORY.encode()
        )
        assert response.json()["added"] == 7
        yield test_client


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_failure_modes_compare_with_the_window_before(client: TestClient) -> None:
    body = get(client, "/api/trends/failure-modes", as_of="2025-02-28", days=30)
    assert (body["since"], body["until"]) == ("2025-01-30", "2025-02-28")
    assert body["items"] == [
        {"error_class": "certificate-expiry", "incidents": 3, "previous": 0, "change": 3},
        {"error_class": "connection-pool-exhaustion", "incidents": 0, "previous": 2, "change": -2},
    ]


def test_days_are_utc_days(client: TestClient) -> None:
    # C started on 31 January in its own zone but on 1 February in UTC.
    assert get(client, "/api/trends/failure-modes", as_of="2025-01-31", days=1)["items"] == []
    body = get(client, "/api/trends/failure-modes", as_of="2025-02-01", days=1)
    assert [(i["error_class"], i["incidents"]) for i in body["items"]] == [
        ("certificate-expiry", 1)
    ]


def test_empty_window(client: TestClient) -> None:
    assert get(client, "/api/trends/failure-modes", as_of="2024-06-01")["items"] == []
    assert get(client, "/api/trends/services", as_of="2024-06-01")["items"] == []


def test_services_most_pages_first(client: TestClient) -> None:
    body = get(client, "/api/trends/services", as_of="2025-02-28", days=60)
    assert body["items"] == [
        {"service": "identity", "incidents": 3},
        {"service": "orders", "incidents": 2},
    ]


def test_mttr_per_month(client: TestClient) -> None:
    body = get(client, "/api/trends/mttr", as_of="2025-03-31", periods=3)
    assert body["series"] == [
        {
            "period": "2025-01",
            "incidents": 2,
            "measured": 2,
            "mttr_seconds_median": 5400.0,
            "mttr_seconds_mean": 5400.0,
            "mttr_seconds_p90": 7200.0,
        },
        {
            "period": "2025-02",
            "incidents": 3,
            "measured": 3,
            "mttr_seconds_median": 3600.0,
            "mttr_seconds_mean": 5400.0,
            "mttr_seconds_p90": 10800.0,
        },
        # G resolved after as_of and F never did: counted, not measured.
        {
            "period": "2025-03",
            "incidents": 2,
            "measured": 0,
            "mttr_seconds_median": None,
            "mttr_seconds_mean": None,
            "mttr_seconds_p90": None,
        },
    ]
    assert (body["trend"], body["trend_change"]) == ("flat", None)  # nothing before January


def test_mttr_as_of_later_includes_what_resolved_since(client: TestClient) -> None:
    client.post("/api/incidents/import", params={"source": "csv"}, content=LATER.encode())
    body = get(client, "/api/trends/mttr", as_of="2025-06-30", periods=6)
    medians = [point["mttr_seconds_median"] for point in body["series"]]
    assert medians == [5400.0, 3600.0, 172800.0, 600.0, None, 1200.0]
    # recent mean (600 + 1200) / 2 = 900 against (5400 + 3600 + 172800) / 3 = 60600
    assert body["trend"] == "improving"
    assert body["trend_change"] == round(900 / 60600 - 1, 4)


def test_mttr_filters(client: TestClient) -> None:
    orders = get(client, "/api/trends/mttr", as_of="2025-02-28", periods=2, service="orders")
    assert [p["incidents"] for p in orders["series"]] == [2, 0]
    pool = get(
        client,
        "/api/trends/mttr",
        as_of="2025-02-28",
        periods=2,
        error_class="connection-pool-exhaustion",
    )
    assert pool["series"][0]["mttr_seconds_median"] == 5400.0  # A and B (B via its postmortem)


def test_mttd_and_mtta_skip_missing_timestamps(client: TestClient) -> None:
    mttd = get(client, "/api/trends/mttd", as_of="2025-02-28", periods=2)["series"]
    assert [(p["measured"], p["mttd_seconds_median"]) for p in mttd] == [(1, 360.0), (0, None)]
    mtta = get(client, "/api/trends/mtta", as_of="2025-02-28", periods=2)["series"]
    assert mtta[0]["mtta_seconds_median"] == 240.0  # detected 10:06, acknowledged 10:10


def test_quarters_and_weeks(client: TestClient) -> None:
    quarter = get(client, "/api/trends/mttr", as_of="2025-03-31", period="quarter", periods=1)
    point = quarter["series"][0]
    assert point["period"] == "2025-Q1" and point["incidents"] == 7 and point["measured"] == 5
    assert point["mttr_seconds_median"] == 3600.0  # 1800 3600 3600 7200 10800
    week = get(client, "/api/trends/mttr", as_of="2025-02-12", period="week", periods=1)
    assert week["series"][0]["period"] == "2025-W07"
    assert week["series"][0]["mttr_seconds_mean"] == (1800 + 10800) / 2


def test_error_budget_per_service_and_month(client: TestClient) -> None:
    body = get(client, "/api/trends/error-budget", as_of="2025-03-31", periods=3)
    assert body["periods"] == ["2025-01", "2025-02", "2025-03"]
    minutes = {item["service"]: [p["minutes"] for p in item["series"]] for item in body["items"]}
    assert minutes == {"identity": [0.0, 70.0, 0.0], "orders": [30.0, 0.0, 0.0]}
    assert [item["service"] for item in body["items"]] == ["identity", "orders"]


def test_bad_periods_are_400_or_422(client: TestClient) -> None:
    assert client.get("/api/trends/mttr", params={"period": "year"}).status_code == 422
    assert client.get("/api/trends/services", params={"days": 0}).status_code == 422
    assert client.get("/api/trends/mttr", params={"as_of": "2025-02-30"}).status_code == 422


def test_investment_scores(client: TestClient) -> None:
    body = get(client, "/api/investments", as_of="2025-02-28", days=90)
    assert [item["error_class"] for item in body["items"]] == [
        "certificate-expiry",
        "connection-pool-exhaustion",
    ]
    cert, pool = body["items"]
    # 3 incidents in 90 days, mean budget (60 + 10) / 2, no detection data, no postmortem
    assert cert["frequency_per_quarter"] == 3 and cert["impact_minutes"] == 35
    assert cert["detection_gap_minutes"] is None and cert["mitigation_maturity"] == "unknown"
    assert cert["score"] == 3 * 35
    # 2 incidents, budget 30 (B has none), 6-minute gap > 5, runbook weight 0.75
    assert pool["detection_gap_minutes"] == 6 and pool["instrument_better"] is True
    assert pool["mitigation_maturity"] == "runbook"
    assert pool["score"] == 2 * 30 * 0.75 * 1.25


def test_targets_count_quarters(client: TestClient) -> None:
    early = get(client, "/api/targets", as_of="2025-03-30")["items"][0]
    assert early["quarters"] == [{"quarter": "2025-Q1", "incidents": 3, "complete": False}]
    assert early["status"] == "on_track"
    first = get(client, "/api/targets", as_of="2025-03-31")["items"][0]
    assert first["status"] == "did_not_move_the_metric"  # 3 in Q1, baseline 3
    done = get(client, "/api/targets", as_of="2025-07-01")["items"][0]
    assert [q["incidents"] for q in done["quarters"]] == [3, 0]
    assert done["status"] == "met"


TARGET = targets.Target(
    id="t",
    baseline=10,
    target=2,
    start=targets.periods.parse_quarter("2025-Q1"),
    deadline=targets.periods.parse_quarter("2025-Q4"),
    error_class="x",
)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([], "on_track"),
        ([2], "met"),
        ([10], "did_not_move_the_metric"),
        ([12, 11], "did_not_move_the_metric"),
        ([7], "on_track"),  # allowed after 1 of 4 quarters: 10 - 8 * 1/4 = 8
        ([9], "at_risk"),
        ([8, 6, 4, 3], "missed"),
        ([8, 6, 4, 2], "met"),
        ([8, 6, 4, 10], "did_not_move_the_metric"),
    ],
)
def test_target_status_rules(counts: list[int], expected: str) -> None:
    assert targets.status(TARGET, counts) == expected


@pytest.mark.parametrize(
    ("medians", "expected"),
    [
        ([100, 100, 100, 110, 110, 110], ("regressing", 0.1)),
        ([100, 100, 100, 90, 90, 90], ("improving", -0.1)),
        ([100, 100, 100, 95, 105, None], ("flat", 0.0)),
        ([None, None, None, 50, 60, 70], ("flat", None)),
    ],
)
def test_trend_threshold(medians: list[float | None], expected: tuple[str, Any]) -> None:
    assert metrics._trend(medians) == expected


def test_prometheus_exposition(client: TestClient) -> None:
    client.get("/api/trends/services")
    text = client.get("/metrics").text
    labels = 'error_class="certificate-expiry",service="identity"'
    assert f"pml_incidents_total{{{labels}}} 3.0" in text
    assert f"pml_incident_resolve_seconds_sum{{{labels}}} 16200.0" in text
    assert f"pml_incident_resolve_seconds_count{{{labels}}} 3.0" in text
    assert f"pml_error_budget_consumed_seconds_total{{{labels}}} 4200.0" in text
    assert (
        'pml_http_requests_total{method="GET",route="/api/trends/services",status="200"} 1.0'
        in text
    )
    assert "pml_http_request_duration_seconds_bucket" in text


def test_settled_periods_follow_new_imports(client: TestClient) -> None:
    before = get(client, "/api/trends/mttr", as_of="2025-03-31", periods=3)["series"][0]
    assert (before["incidents"], before["mttr_seconds_median"]) == (2, 5400.0)
    labels = 'error_class="unclassified",service="orders"'
    assert f"pml_incidents_total{{{labels}}} 2.0" in client.get("/metrics").text
    late = f"{HEADER}\nJ,Late import,orders,SEV4,2025-01-05T10:00:00Z,,,,2025-01-05T10:10:00Z,,,\n"
    client.post("/api/incidents/import", params={"source": "csv"}, content=late.encode())
    after = get(client, "/api/trends/mttr", as_of="2025-03-31", periods=3)["series"][0]
    # January now holds 600, 3600 and 7200 seconds.
    assert (after["incidents"], after["mttr_seconds_median"]) == (3, 3600.0)
    assert f"pml_incidents_total{{{labels}}} 3.0" in client.get("/metrics").text


def test_cached_answers_equal_fresh_ones(
    client: TestClient, settings: Settings, open_library: Any
) -> None:
    library = open_library(settings)
    for as_of in ("2025-01-31", "2025-02-15", "2025-03-31", "2025-04-01", "2025-03-31"):
        day = dt.date.fromisoformat(as_of)
        for metric in ("mttr", "mttd"):
            for error_class in (None, "certificate-expiry"):
                params = {"as_of": as_of, "periods": 4}
                if error_class:
                    params["error_class"] = error_class
                cached = get(client, f"/api/trends/{metric}", **params)
                scope = metrics.Scope(error_class=error_class)
                with store.session(library.engine) as db:
                    fresh = metrics.duration_trend(db, metric, day, count=4, scope=scope)
                assert cached == fresh, (as_of, metric, error_class)


def test_cached_error_budget_equals_fresh(
    client: TestClient, settings: Settings, open_library: Any
) -> None:
    library = open_library(settings)
    for as_of in ("2025-01-31", "2025-02-15", "2025-03-31", "2025-02-15"):
        cached = get(client, "/api/trends/error-budget", as_of=as_of, periods=3)
        with store.session(library.engine) as db:
            fresh = metrics.error_budget(db, dt.date.fromisoformat(as_of), count=3)
        assert cached == fresh, as_of
    late = f"{HEADER}\nK,Late,orders,SEV3,2025-01-05T10:00:00Z,,,,,,5,\n"
    client.post("/api/incidents/import", params={"source": "csv"}, content=late.encode())
    body = get(client, "/api/trends/error-budget", as_of="2025-03-31", periods=3)
    orders = next(item for item in body["items"] if item["service"] == "orders")
    assert orders["series"][0]["minutes"] == 35.0  # 30 + the late 5
