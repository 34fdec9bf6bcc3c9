"""The package installs like any other: a wheel in a fresh virtual environment serves every page.

The wheel is built from a copy of the checkout as a fresh clone has it after
`npm ci` (no virtual environment, no build output), installed with `pip
install` (not editable) into a new virtual environment, and its `pml serve`
is asked over real HTTP for every page a reader can reach and every file
those pages load. To stay fast and offline the new environment borrows the
test environment's dependencies (a .pth line) but not its editable install
of this project, and the build uses the installed setuptools.

Without `npm ci`, a checkout's `pml serve` refuses to start, naming what is
missing; a package built without it still installs and lints (a CI job or a
pre-commit hook installing from git needs no npm) and refuses to serve.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import frontend
from tests.live_server import free_port
from tests.routes import every_route

ROOT = Path(__file__).resolve().parent.parent
# What a fresh clone does not have (or git ignores); node_modules is added back below.
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "data", "build", "dist", "*.egg-info", "__pycache__",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", "out",
)  # fmt: skip
LINK = re.compile(r'(?:href|src)="(/[^"]*)"')


def _clone(target: Path, *, npm: bool = True) -> Path:
    """The checkout as a fresh clone has it (after `npm ci` in frontend/ when `npm`)."""
    shutil.copytree(ROOT, target, ignore=NOT_IN_A_CLONE)
    for vendored in frontend.VENDORED if npm else ():
        package = Path("frontend", "node_modules", vendored.package)
        shutil.copytree(ROOT / package, target / package)
    return target


def _wheel(clone: Path, dist: Path) -> Path:
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "--wheel-dir", dist, clone], check=True)
    (wheel,) = dist.glob("postmortem_library-*.whl")
    shutil.rmtree(clone)  # the installed package must not lean on the sources
    return wheel


def _install(wheel: Path, venv: Path) -> Path:
    """A new virtual environment with `wheel` installed; its own `pml`."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies, from the environment running the tests. A path in a .pth file is
    # appended after the new environment's own site-packages, and the .pth files found
    # there are not run, so the editable install of this project stays out.
    borrowed = [path for path in sys.path if path.endswith("site-packages")]
    borrowed.append(sysconfig.get_paths()["purelib"])
    Path(site, "borrowed_dependencies.pth").write_text("\n".join(dict.fromkeys(borrowed)) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", "--no-index", wheel], check=True)
    return venv / "bin" / "pml"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pml` from a wheel built from a fresh clone, installed into a fresh environment."""
    base = tmp_path_factory.mktemp("package")
    return _install(_wheel(_clone(base / "clone"), base / "dist"), base / "venv")


@pytest.fixture(scope="module")
def server(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The installed `pml serve` on the sample library, from a folder with no sources in it."""
    home = tmp_path_factory.mktemp("serve")
    port = free_port()
    command = [installed, "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=home, env=_env(home))
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _env(home: Path) -> dict[str, str]:
    """Our environment without its PML_* settings, serving the sample library."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PML_")}
    env.pop("PYTHONPATH", None)
    env["PML_LIBRARY"] = str(ROOT / "postmortems")
    env["PML_DATA_DIR"] = str(home / "data")
    env["PML_EMBEDDING_MODEL"] = "hash"
    env["PML_LOG_LEVEL"] = "warning"
    return env


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"the installed pml serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the installed pml serve at {base} did not answer")


def test_the_installed_package_runs_from_its_own_files(installed: Path) -> None:
    python = installed.parent / "python"
    where = subprocess.run(
        [python, "-c", "import api, frontend, indexer; print(api.__file__, frontend.ROOT)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=installed.parent,
    ).stdout.split()
    venv = installed.parent.parent
    assert all(Path(path).is_relative_to(venv) for path in where), where


def test_every_page_and_every_file_it_loads_is_served(server: str) -> None:
    """Crawl from every GET route without parameters; fetch each script and style it loads."""
    pages, assets = _crawl(server, _plain_get_routes())
    for page in ("/", "/trends", "/incidents", "/near-misses", "/digest", "/docs", "/redoc"):
        assert pages.get(page) == 200, page
    assert any(page.startswith("/postmortems/") and pages[page] == 200 for page in pages)
    for asset in sorted(assets):
        response = httpx.get(server + asset)
        assert response.status_code == 200, asset
        assert response.content, asset
    # Every vendored file is loaded by some page, and the pages load nothing else from npm.
    shipped = {
        f"/static/vendor/{vendored.name}/{file}"
        for vendored in frontend.VENDORED
        for file in vendored.files
    }
    assert {asset for asset in assets if asset.startswith("/static/vendor/")} == shipped
    htmx = httpx.get(f"{server}/static/vendor/htmx/htmx.min.js")
    assert "javascript" in htmx.headers["content-type"]
    assert b"htmx" in htmx.content


def _plain_get_routes() -> list[str]:
    """The app's GET routes that need no path parameter, outside the JSON API."""
    from api.app import create_app

    return [
        route.path
        for route in every_route(create_app().routes)
        if "GET" in getattr(route, "methods", ())
        and "{" not in route.path
        and not route.path.startswith("/api/")
    ]


def _crawl(server: str, start: list[str]) -> tuple[dict[str, int], set[str]]:
    """The HTML pages reachable by links from `start` (one visit a path) with their status,
    and the /static files they load."""
    queue, pages, assets = list(start), dict[str, int](), set[str]()
    with httpx.Client(base_url=server, follow_redirects=True) as client:
        while queue:
            url = queue.pop(0)
            path = urlsplit(url).path
            if path in pages:
                continue
            response = client.get(url)
            if not response.headers.get("content-type", "").startswith("text/html"):
                continue
            # A route that needs query parameters answers its HTML 4xx page: also a page.
            assert response.status_code < 500, url
            pages[path] = response.status_code
            for link in map(html.unescape, LINK.findall(response.text)):
                if link.startswith("/static/"):
                    assets.add(urlsplit(link).path)
                elif not link.startswith("/api/"):
                    queue.append(link)
    return pages, assets


def test_a_checkout_without_npm_ci_refuses_to_start_and_says_what_is_missing(
    tmp_path: Path,
) -> None:
    checkout = tmp_path / "checkout"
    for part in ("api", "indexer", "frontend"):
        shutil.copytree(ROOT / part, checkout / part, ignore=NOT_IN_A_CLONE)
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(free_port())]
    result = subprocess.run(
        command, cwd=checkout, env=_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"Run `npm ci` in {checkout / 'frontend'}" in result.stderr
    for vendored in frontend.VENDORED:
        for file in vendored.files:
            assert str(Path(vendored.package, vendored.folder, file)) in result.stderr


def test_a_package_built_without_npm_ci_lints_but_refuses_to_serve(tmp_path: Path) -> None:
    """A lint-only install from git (a CI job, a pre-commit hook) needs no npm."""
    wheel = _wheel(_clone(tmp_path / "clone", npm=False), tmp_path / "dist")
    pml = _install(wheel, tmp_path / "venv")
    env = _env(tmp_path)
    lint = subprocess.run(
        [pml, "lint", ROOT / "postmortems"], env=env, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    command = [pml, "serve", "--port", str(free_port())]
    serve = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert serve.returncode == 1
    assert "Traceback" not in serve.stderr
    assert "built without the pages' third-party browser files" in serve.stderr
    assert "htmx.org/dist/htmx.min.js" in serve.stderr and "npm ci" in serve.stderr
