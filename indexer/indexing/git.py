"""Running git safely: remote checks, a bare mirror, and reading trees and blobs.

Everything goes through the `git` command line with hooks off and only the
https, ssh, git and local-path transports allowed, so a hostile URL or
repository cannot make us run code. Nothing is ever checked out: files are
read straight from the object database of a bare mirror.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 600  # a first fetch of a large repository over a slow link
SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "protocol.allow=never",
    "protocol.https.allow=always",
    "protocol.ssh.allow=always",
    "protocol.git.allow=always",
    # Local paths travel over the "file" transport; file:// URLs are refused earlier.
    "protocol.file.allow=always",
    "fetch.recurseSubmodules=false",
    "transfer.fsckObjects=true",
)
# Variables that would point git at another repository than the one we name.
_REDIRECTING_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


class GitError(Exception):
    """A git operation failed; the message is safe to show (credentials removed)."""


class RemoteRefused(GitError):
    """The configured remote is not one we are willing to fetch from."""


def redact(text: str) -> str:
    """Text with the user:password part of any URL in it replaced by `***`."""
    return _CREDENTIALS.sub("***@", text)


def check_remote(url: str) -> str:
    """The remote to pass to `git fetch`, or `RemoteRefused` saying what is wrong with it.

    Allowed: https://, ssh://, git:// URLs, scp-like `user@host:path`, and a
    local path to a repository. Refused: anything git would read as an
    option, `transport::address` remotes (ext:: runs commands), file:// URLs
    and other schemes.
    """
    if not url.strip():
        raise RemoteRefused("PML_GIT_URL is empty")
    if any(ord(char) < 32 or ord(char) == 127 for char in url):
        raise RemoteRefused("PML_GIT_URL contains control characters")
    if url.startswith("-"):
        raise RemoteRefused("PML_GIT_URL starts with '-', which git would read as an option")
    scheme = _SCHEME.match(url)
    if scheme:
        return _check_url(url, scheme.group(1).lower())
    if "::" in url:
        raise RemoteRefused(
            "'transport::address' remotes (ext::, fd::, ...) are not allowed: "
            "use https, ssh, git or a local path"
        )
    if _is_scp_like(url):
        host = url.split(":", 1)[0].rsplit("@", 1)[-1]
        _check_host(host)
        return url
    path = Path(url).expanduser()
    if not path.is_dir():
        raise RemoteRefused(f"PML_GIT_URL: no repository at the local path {url}")
    return str(path.resolve())


def _check_url(url: str, scheme: str) -> str:
    if scheme == "file":
        raise RemoteRefused("file:// URLs are not allowed: give the local path itself")
    if scheme == "http":
        raise RemoteRefused("plain http is not allowed: use https")
    if scheme not in ("https", "ssh", "git"):
        raise RemoteRefused(
            f"the '{scheme}' transport is not allowed: use https, ssh, git or a local path"
        )
    parts = urlsplit(url)
    _check_host(parts.hostname or "")
    if (parts.username or "").startswith("-"):
        raise RemoteRefused("PML_GIT_URL has a user name starting with '-'")
    return url


def _is_scp_like(url: str) -> bool:
    """git reads `host:path` (a colon before any slash) as ssh, like scp does."""
    colon, slash = url.find(":"), url.find("/")
    return colon > 0 and (slash < 0 or colon < slash)


def _check_host(host: str) -> None:
    if not host or host.startswith("-"):
        raise RemoteRefused(f"PML_GIT_URL has an invalid host name '{host}'")


def check_branch(branch: str) -> str:
    """The branch name, or `GitError` if git would not accept it as one."""
    if not branch or branch.startswith("-"):
        raise GitError(f"PML_GIT_BRANCH '{branch}' is not a valid branch name")
    result = subprocess.run(
        ["git", "check-ref-format", f"refs/heads/{branch}"],
        capture_output=True,
        env=_environment(),
        check=False,
    )
    if result.returncode != 0:
        raise GitError(f"PML_GIT_BRANCH '{branch}' is not a valid branch name")
    return branch


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REDIRECTING_ENV}
    # Never wait for a password prompt that nobody will answer.
    env.update(
        GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", GIT_LITERAL_PATHSPECS="1", LC_ALL="C"
    )
    return env


@dataclass(frozen=True)
class TreeEntry:
    """One `git ls-tree -r -l` line: mode, object type, object id, size, path."""

    mode: str
    kind: str
    sha: str
    size: int | None
    path: str

    @property
    def is_file(self) -> bool:
        return self.kind == "blob" and self.mode in ("100644", "100755")


@dataclass(frozen=True)
class TreeDiff:
    """What changed between two commits: paths to read again, paths that left."""

    changed: frozenset[str]
    removed: frozenset[str]


class Mirror:
    """A bare repository in the data directory that mirrors one branch of the remote."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        command = ["git", *_config_args(), "--git-dir", str(self.path), *args]
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=_environment(),
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} took longer than {TIMEOUT_SECONDS}s") from None
        if check and result.returncode != 0:
            message = result.stderr.decode("utf-8", "replace").strip().splitlines()
            detail = "; ".join(message[-3:]) or f"exit status {result.returncode}"
            raise GitError(redact(f"git {args[0]} failed: {detail}"))
        return result

    def ensure(self) -> None:
        """Create the bare repository on first use."""
        if (self.path / "HEAD").is_file():
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--bare")

    def fetch(self, remote: str, branch: str) -> str:
        """Fetch the branch head (rewritten history included) and return its commit id."""
        ref = f"refs/pml/branches/{branch}"
        self.git(
            "fetch",
            "--quiet",
            "--no-tags",
            "--end-of-options",
            remote,
            f"+refs/heads/{branch}:{ref}",
        )
        return self.resolve(ref)

    def resolve(self, revision: str) -> str:
        output = self.git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
        return output.stdout.decode().strip()

    def has_commit(self, commit: str) -> bool:
        return self.git("cat-file", "-e", f"{commit}^{{commit}}", check=False).returncode == 0

    def is_ancestor(self, older: str, newer: str) -> bool:
        result = self.git("merge-base", "--is-ancestor", older, newer, check=False)
        if result.returncode > 1:
            raise GitError(f"git merge-base failed with exit status {result.returncode}")
        return result.returncode == 0

    def tree(self, commit: str, folder: str, *, recursive: bool = True) -> list[TreeEntry]:
        """Entries under `folder` ('' for the whole tree) at `commit`, paths from the root."""
        args = ["ls-tree", "-z", "-l", "--full-tree", *(["-r"] if recursive else []), commit]
        output = self.git(*args, *(["--", folder] if folder else [])).stdout
        return [_tree_entry(record) for record in output.split(b"\0") if record]

    def diff(self, old: str, new: str, folder: str) -> TreeDiff:
        """Paths added, changed or renamed (new name) and removed between two commits."""
        args = ["diff-tree", "-r", "-z", "-M", "--name-status", "--no-commit-id", old, new]
        tokens = self.git(*args, *(["--", folder] if folder else [])).stdout.split(b"\0")
        changed: set[str] = set()
        removed: set[str] = set()
        position = 0
        while position < len(tokens) and tokens[position]:
            status = tokens[position].decode()
            if status[0] in "RC":
                old_path, new_path = (_path(t) for t in tokens[position + 1 : position + 3])
                if status[0] == "R":
                    removed.add(old_path)
                changed.add(new_path)
                position += 3
                continue
            path = _path(tokens[position + 1])
            (removed if status[0] == "D" else changed).add(path)
            position += 2
        return TreeDiff(frozenset(changed), frozenset(removed))

    def log(self, revisions: list[str], folder: str) -> bytes:
        """`git log --name-status -M` from newest to oldest: githistory.py parses it."""
        args = ["log", "-z", "--topo-order", "--name-status", "-M", "--format=%x01%H%x1f%an%x1f%aI"]
        return self.git(*args, *revisions, *(["--", folder] if folder else [])).stdout


def _config_args() -> list[str]:
    return [part for setting in SAFE_CONFIG for part in ("-c", setting)]


def _path(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _tree_entry(record: bytes) -> TreeEntry:
    meta, _, raw_path = record.partition(b"\t")
    mode, kind, sha, size = meta.decode().split()
    return TreeEntry(mode, kind, sha, int(size) if size.isdigit() else None, _path(raw_path))


class BlobReader:
    """Reads blobs through one long-running `git cat-file --batch`; counts what it read."""

    def __init__(self, mirror: Mirror) -> None:
        command = ["git", *_config_args(), "--git-dir", str(mirror.path), "cat-file", "--batch"]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_environment(),
        )
        self.count = 0

    def read(self, sha: str) -> bytes:
        stdin, stdout = self._pipes()
        stdin.write(sha.encode() + b"\n")
        stdin.flush()
        header = stdout.readline().split()
        if len(header) != 3:
            raise GitError(f"git cat-file could not read object {sha}")
        data = stdout.read(int(header[2]))
        stdout.read(1)  # the newline after every object
        self.count += 1
        return data

    def _pipes(self) -> tuple[IO[bytes], IO[bytes]]:
        if self._process.stdin is None or self._process.stdout is None:
            raise GitError("git cat-file is not running")
        return self._process.stdin, self._process.stdout

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout:
            self._process.stdout.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
