"""A real git repository in a temporary folder, driven with the git CLI, for sync tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import SAMPLE_LIBRARY, write

AUTHOR = "Ann Author"


class Repo:
    """An origin repository with a `postmortems/` library on branch main."""

    def __init__(self, path: Path, *, folder: str = "postmortems") -> None:
        self.path = path
        self.folder = path / folder if folder else path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE_LIBRARY / "taxonomy.yaml", self.folder / "taxonomy.yaml")

    def git(self, *args: str, author: str = AUTHOR, when: str | None = None) -> str:
        email = author.lower().replace(" ", ".") + "@example.com"
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": author,
            "GIT_COMMITTER_EMAIL": email,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
        if when:
            env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
        result = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        )
        return result.stdout.strip()

    def write(self, name: str, text: str) -> Path:
        return write(self.folder, name, text)

    def commit(self, message: str, *, author: str = AUTHOR, when: str | None = None) -> str:
        """Commit everything in the working tree; returns the commit id."""
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message, author=author, when=when)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")
