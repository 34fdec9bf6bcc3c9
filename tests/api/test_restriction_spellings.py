"""Fail closed on every spelling (issue 29): any sign of a restriction keeps a postmortem hidden.

Each row of the issue: an `audience` beside a misspelled, miscased, empty or
missing `visibility` was served to anonymous readers and passed `pml lint`.
Now each is served as restricted to that audience, lint exits 1 with an error
at the line, and `/api/problems` names no file that might be restricted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from indexer.config import Settings
from tests.conftest import BODY, write

PROXY = "10.0.0.5"
OUTSIDER = {"X-Forwarded-User": "eve", "X-Forwarded-Groups": "payments"}
INSIDER = {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "secops"}
ADMIN = {"X-Forwarded-User": "root", "X-Forwarded-Groups": "sre-admin"}
# The spellings: (file stem, the visibility line as written (None: no line)).
SPELLINGS = {
    "misspelled": "visiblity: restricted",
    "miscased": "Visibility: restricted",
    "empty": "visibility:",
    "null": "visibility: null",
    "tilde": "visibility: ~",
    "missing": None,
}


def restricted_text(identifier: str, word: str, visibility_line: str | None) -> str:
    """A postmortem for `secops` whose visibility is written as `visibility_line`."""
    lines = [
        "---",
        f"id: {identifier}",
        f"title: Hidden {word}",
        "date: 2025-03-10",
        "severity: SEV2",
        "services: [orders]",
        *([visibility_line] if visibility_line is not None else []),
        "audience: [secops]",
        "---",
        BODY.format(summary=f"The {word} keys leaked."),
    ]
    return "\n".join(lines)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    for stem, line in SPELLINGS.items():
        write(settings.library, f"2025/{stem}.md", restricted_text(stem, f"wombat{stem}", line))
    write(settings.library, "2025/open.md", restricted_text("open", "wombatopen", None))
    (settings.library / "2025/open.md").write_text(
        restricted_text("open", "wombatopen", "visibility: internal").replace(
            "audience: [secops]\n", ""
        ),
        "utf-8",
    )
    proxied = settings.model_copy(
        update={"auth": "proxy", "trusted_proxies": f"{PROXY}/32", "admin_group": "sre-admin"}
    )
    with TestClient(create_app(proxied), client=(PROXY, 1)) as test_client:
        yield test_client


def _seen(client: TestClient, headers: dict[str, str], stem: str) -> list[str]:
    """The surfaces on which `headers` finds the postmortem `stem`."""
    word = f"wombat{stem}"
    search = client.get(f"/api/search?q={word}&mode=fulltext", headers=headers).json()
    surfaces = {
        "page": client.get(f"/api/postmortems/{stem}", headers=headers).status_code == 200,
        "list": f'"{stem}"' in client.get("/api/postmortems?limit=100", headers=headers).text,
        "search": stem in [hit["id"] for hit in search["results"]],
        "html": f"/postmortems/{stem}" in client.get(f"/?q={word}", headers=headers).text,
        "feed": word in client.get("/feed.atom?since=2025-01-01", headers=headers).text,
        "digest": word in client.get("/api/digest?week=2025-W11", headers=headers).text,
    }
    return [name for name, found in surfaces.items() if found]


@pytest.mark.parametrize("stem", list(SPELLINGS))
def test_every_spelling_is_served_only_to_its_audience(client: TestClient, stem: str) -> None:
    assert _seen(client, {}, stem) == []
    assert _seen(client, OUTSIDER, stem) == []
    # The audience it names still reads it (feeds carry nothing restricted, even for them).
    assert {"page", "list", "search", "html"} <= set(_seen(client, INSIDER, stem))
    assert "wombatopen" in client.get("/api/search?q=wombatopen").text


def test_lint_fails_at_the_line_of_every_spelling(settings: Settings) -> None:
    for stem, line in SPELLINGS.items():
        write(settings.library, f"2025/{stem}.md", restricted_text(stem, stem, line))
    result = CliRunner().invoke(main, ["lint", str(settings.library)])
    assert result.exit_code == 1, result.output
    for stem, line in SPELLINGS.items():
        text = (settings.library / f"2025/{stem}.md").read_text("utf-8").splitlines()
        errors = [e for e in result.output.splitlines() if f"{stem}.md:" in e and ": error:" in e]
        assert errors, (stem, result.output)
        numbers = {int(error.split(".md:")[1].split(":")[0]) for error in errors}
        expected = line if line is not None and line.startswith("visib") else "audience:"
        marked = {text[n - 1].split(":")[0] for n in numbers}
        assert expected.split(":")[0] in marked, (stem, errors)
        assert any("treated as restricted" in error for error in errors)


def _problem_paths(client: TestClient, headers: dict[str, str]) -> set[str]:
    return {p["path"] for p in client.get("/api/problems", headers=headers).json()["items"]}


def test_problems_name_no_file_that_may_be_restricted(settings: Settings) -> None:
    """Issue 29: an id collision with an internal file, and broken files quoting their key."""
    library = settings.library
    write(
        library,
        "2025/a-secret.md",
        restricted_text("shared-id", "secret", "visibility: restricted"),
    )
    write(library, "2025/b-open.md", restricted_text("shared-id", "open", "visibility: internal"))
    (library / "2025/b-open.md").write_text(
        (library / "2025/b-open.md").read_text("utf-8").replace("audience: [secops]\n", ""),
        "utf-8",
    )
    broken = {
        "quoted": '---\ntitle: [unclosed\n"visibility": restricted\n---\nbody\n',
        "single-quoted": "---\ntitle: [unclosed\n'visibility': restricted\n---\nbody\n",
        "flow": "---\n{title: [unclosed, visibility: restricted}\n---\nbody\n",
        "audience-only": "---\ntitle: [unclosed\naudience: [secops]\n---\nbody\n",
        "miscased": "---\ntitle: [unclosed\nVisibility: restricted\n---\nbody\n",
    }
    for stem, text in broken.items():
        write(library, f"2025/{stem}.md", text)
    write(library, "2025/plain-broken.md", "---\ntitle: [unclosed\n---\nbody\n")
    proxied = settings.model_copy(
        update={"auth": "proxy", "trusted_proxies": f"{PROXY}/32", "admin_group": "sre-admin"}
    )
    with TestClient(create_app(proxied), client=(PROXY, 1)) as client:
        for headers in ({}, OUTSIDER, INSIDER):
            assert _problem_paths(client, headers) == {"2025/plain-broken.md"}
            assert "a-secret" not in client.get("/api/problems", headers=headers).text
        every = _problem_paths(client, ADMIN)
        assert every >= {f"2025/{stem}.md" for stem in broken} | {"2025/plain-broken.md"}
        assert len(every) == len(broken) + 2  # and the colliding file


def test_readyz_shows_outsiders_no_server_paths(settings: Settings, tmp_path: Path) -> None:
    """Issue 29: the local taxonomy path (and a model folder) in /readyz for anonymous callers."""
    broken = settings.model_copy(
        update={
            "auth": "proxy",
            "trusted_proxies": f"{PROXY}/32",
            "admin_group": "sre-admin",
            "embedding_model": str(tmp_path / "no-such-model"),
            "git_url": str(tmp_path / "no-such-repository"),
            "sync_interval": 0,
        }
    )
    with TestClient(create_app(broken), client=(PROXY, 1)) as client:
        for _ in range(200):
            answer = client.get("/readyz", headers=ADMIN).json()
            if answer["semantic_status"]["state"] == "error" and answer["sync"]["last_error"]:
                break
        assert str(tmp_path) in str(answer)  # admins see where
        for headers in ({}, OUTSIDER, INSIDER):
            seen = client.get("/readyz", headers=headers).json()
            assert str(tmp_path) not in str(seen)
            assert seen["sync"]["state"] == "failing"
            assert "no repository at the local path" in seen["sync"]["last_error"]
