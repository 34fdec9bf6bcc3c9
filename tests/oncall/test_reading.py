"""Reading alerts as people write them, and resolving the service they are about."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.seen_before import payloads
from indexer.format.taxonomy import Taxonomy, Term
from indexer.oncall import AlertReadError, read
from indexer.oncall.reading import clean, from_text, words_of_name
from indexer.oncall.services import resolve

TAXONOMY = Taxonomy(
    services={
        "orders": Term("orders", team="fulfilment"),
        "inventory": Term("inventory", team="fulfilment"),
        "checkout": Term("checkout", team="payments", aliases=("Checkout Service",)),
        "identity": Term("identity", team="identity"),
        "api-gateway": Term("api-gateway", team="edge", aliases=("Edge Gateway",)),
    }
)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("PgbouncerPoolExhausted", "Pgbouncer Pool Exhausted"),
        ("KubeContainerOOMKilled", "Kube Container OOM Killed"),
        ("etcdMembersDown", "etcd Members Down"),
        ("HostDiskWillFillIn24Hours", "Host Disk Will Fill In24 Hours"),
        ("node_filesystem_full", "node filesystem full"),
    ],
)
def test_camel_case_names_become_words(name: str, words: str) -> None:
    assert words_of_name(name) == words


def test_template_residue_is_dropped() -> None:
    text = "Disk is almost full (< 10% left)\n  VALUE = 6.1\n  LABELS = map[instance:ci-3:9100]"
    assert clean(text) == "Disk is almost full (< left)"


@pytest.mark.parametrize(
    ("names", "teams", "service", "how"),
    [
        (("Checkout Service",), (), "checkout", "alias"),
        (("pgbouncer-orders",), (), "orders", "part"),
        (("checkout-api-prod",), (), "checkout", "part"),
        (("pgdata_orders_db_0",), (), "orders", "part"),
        (("edge-gateway-eu-1",), (), "api-gateway", "part"),
        (("node-exporter", "10.0.0.1:9100"), ("identity",), "identity", "team"),
        (("kube-state-metrics",), ("kube-system",), None, None),
    ],
)
def test_services_by_alias_parts_and_team(
    names: tuple[str, ...], teams: tuple[str, ...], service: str | None, how: str | None
) -> None:
    guess = resolve(TAXONOMY, names, teams)
    assert (guess.service, guess.how) == (service, how)


def test_a_team_with_several_services_names_none_but_lifts_them() -> None:
    guess = resolve(TAXONOMY, ("node-exporter",), ("fulfilment",))
    assert guess.service is None
    assert set(guess.team_services) == {"orders", "inventory"}


def test_each_vendor_payload_is_read_by_the_intake_parsers() -> None:
    alert = read(
        "alertmanager",
        payloads.alertmanager("KubePodCrashLooping", {"namespace": "web"}, "Pod is crash looping."),
    )
    assert alert.name == "KubePodCrashLooping" and alert.teams == ("web",)
    assert alert.text.startswith("Kube Pod Crash Looping. Pod is crash looping.")
    page = read("pagerduty", payloads.pagerduty("[FIRING:1] X (orders-db critical)", "Orders"))
    assert "orders-db" in page.names and "Orders" in page.names
    genie = read(
        "opsgenie",
        payloads.opsgenie("Lag", "Consumer lag", ["kafka", "team:data"], {"service": "x"}),
    )
    assert genie.names[0] == "x" and "kafka" in genie.text
    hydrant = read("firehydrant", payloads.firehydrant("Checkout down", ["Checkout"]))
    assert hydrant.names[0] == "Checkout"


@pytest.mark.parametrize(
    ("source", "body", "message"),
    [
        ("alertmanager", b"[]", "JSON object"),
        ("alertmanager", json.dumps({"version": "4", "alerts": []}).encode(), "empty"),
        ("opsgenie", b'{"action": "Create"}', "alert"),
        ("firehydrant", b"{}", "data.incident"),
        ("pagerduty", b"not json", "JSON"),
        ("nagios", b"{}", "unknown source"),
    ],
)
def test_unreadable_payloads_say_why(source: str, body: bytes, message: str) -> None:
    with pytest.raises(AlertReadError, match=message):
        read(source, body)


def test_pasted_text_takes_its_first_line_as_the_name() -> None:
    said = from_text("PgbouncerPoolExhausted\npool for pgbouncer-orders is full")
    assert said.name == "PgbouncerPoolExhausted" and "pgbouncer-orders" in said.names
    with pytest.raises(AlertReadError, match="empty"):
        from_text("  \n ")


def test_the_vendors_intake_added_are_read_too() -> None:
    jsm = read("jsm", payloads.opsgenie("Consumer lag high", tags=["kafka"], alert_id="j-1"))
    assert (jsm.source, jsm.name, jsm.source_id) == ("jsm", "Consumer lag high", "j-1")
    vendors = Path(__file__).resolve().parents[1] / "fixtures" / "vendors" / "webhooks"
    body = (vendors / "grafana-oncall" / "docs_outgoing_webhook_resolve.json").read_bytes()
    group = read("grafana-oncall", body)
    assert group.source == "grafana-oncall" and group.name and group.source_id
    firing = (vendors / "opsgenie" / "zulip_create.json").read_bytes()
    assert read("opsgenie", firing).firing
