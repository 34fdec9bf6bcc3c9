"""`pml import services`: a Backstage catalog into taxonomy.yaml, adding and never removing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from indexer.config import Settings
from indexer.format import backstage, taxonomy
from tests.conftest import write

CATALOG = Path(__file__).resolve().parent.parent / "fixtures" / "backstage"
ANNOTATED = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  title: Checkout API
  annotations:
    pagerduty.com/service-id: PT5ED69
    pagerduty.com/integration-key: 0123456789abcdef0123456789abcdef
    opsgenie.com/component-selector: 'tag:"service:my-awesome-service"'
spec:
  type: service
  owner: group:default/payments
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: payments
spec:
  type: team
"""


def test_components_become_services_with_teams_and_vendor_aliases() -> None:
    found = backstage.services(backstage.entities(ANNOTATED.encode()))
    [service] = found
    assert (service.id, service.team) == ("checkout", "payments")
    assert service.aliases == ["Checkout API", "PT5ED69", "my-awesome-service"]
    assert "0123456789abcdef0123456789abcdef" not in json.dumps(service.aliases)


def test_the_catalog_api_entity_list_reads_the_same() -> None:
    listed = backstage.entities(ANNOTATED.encode())
    as_api = json.dumps({"items": listed}).encode()
    assert backstage.services(backstage.entities(as_api)) == backstage.services(listed)


def test_pml_import_services_adds_and_never_removes(settings: Settings) -> None:
    write(
        settings.library,
        "taxonomy.yaml",
        "# Our vocabulary.\nschema: 1\nservices:\n  - id: checkout\n    aliases: [basket]\n"
        "error_classes: [dns-failure]\n",
    )
    catalog = settings.library.parent / "catalog-info.yaml"
    catalog.write_text(ANNOTATED, encoding="utf-8")
    env = {
        "PML_LIBRARY": str(settings.library),
        "PML_DATA_DIR": str(settings.data_dir),
        "PML_DATABASE_URL": settings.resolved_database_url,
    }
    real = str(CATALOG / "artist-lookup-component.yaml")
    result = CliRunner().invoke(main, ["import", "services", str(catalog), real], env=env)
    assert result.exit_code == 0, result.output
    text = (settings.library / "taxonomy.yaml").read_text(encoding="utf-8")
    assert text.startswith("# Our vocabulary.\n")
    loaded = taxonomy.load(settings.library)
    checkout = loaded.services["checkout"]
    assert checkout.aliases == ("basket", "Checkout API", "PT5ED69", "my-awesome-service")
    assert checkout.team == "payments"
    assert loaded.services["artist-lookup"].team == "team-a"
    assert "dns-failure" in loaded.error_classes
    assert loaded.service_for(["PT5ED69"]) == "checkout"  # a PagerDuty id maps to it now
    again = CliRunner().invoke(main, ["import", "services", str(catalog), real], env=env)
    assert "already has every component" in again.output


def test_a_file_that_is_no_catalog_is_named(tmp_path: Path) -> None:
    with pytest.raises(backstage.CatalogError, match="not a Backstage catalog"):
        backstage.entities(b'[{"id": 1}]')
    with pytest.raises(backstage.CatalogError, match="neither JSON nor YAML"):
        backstage.entities(b"key: [unclosed")
