"""Fail closed: what cannot be read as meant for everyone is never served to everyone.

A mistyped `visibility` (`Restricted`, `private`, a list) used to fall back to
`internal`: the postmortem its author meant to hide was searchable, readable
and in the digest. Now it is served as restricted (to its audience, or to
nobody), in folder mode and in git mode alike; invalid ids and symbolic links
out of the library are refused; and the problem list shows a broken file's
path to everyone only when the file plainly says it is for everyone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from indexer.config import Settings
from indexer.indexing import gitsync
from tests.conftest import postmortem_text, write
from tests.gitrepo import Repo

PROXY = "10.0.0.5"
OUTSIDER = {"X-Forwarded-User": "eve", "X-Forwarded-Groups": "payments"}
INSIDER = {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "security"}
ADMIN = {"X-Forwarded-User": "root", "X-Forwarded-Groups": "sre-admin"}
# id -> (visibility as mistyped, the one word only that postmortem contains)
MISTYPED: dict[str, tuple[Any, str]] = {
    "2025-03-01-capitalised": ("Restricted", "wombatcapital"),
    "2025-03-02-private": ("private", "wombatprivate"),
    "2025-03-03-listed": (["restricted"], "wombatlisted"),
    "2025-03-04-public": ("public", "wombatpublic"),
}


def _files(folder: Path) -> None:
    write(folder, "2025/open.md", postmortem_text(id="2025-03-05-open", title="Open one"))
    for identifier, (visibility, word) in MISTYPED.items():
        write(
            folder,
            f"2025/{identifier}.md",
            postmortem_text(
                id=identifier,
                title=f"Hidden {word}",
                date="2025-03-10",
                visibility=visibility,
                audience=["security"],
                summary=f"The {word} keys leaked.",
            ),
        )


def _proxied(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"auth": "proxy", "trusted_proxies": f"{PROXY}/32", "admin_group": "sre-admin"}
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    _files(settings.library)
    with TestClient(create_app(_proxied(settings)), client=(PROXY, 1)) as test_client:
        yield test_client


def _seen(client: TestClient, headers: dict[str, str]) -> dict[str, bool]:
    """For each mistyped postmortem: can `headers` read it on any surface?"""
    listed = {
        item["id"]
        for item in client.get("/api/postmortems", params={"limit": 100}, headers=headers).json()[
            "items"
        ]
    }
    digest = client.get("/api/digest", params={"week": "2025-W11"}, headers=headers).text
    seen = {}
    for identifier, (_, word) in MISTYPED.items():
        found = client.get("/api/search", params={"q": word, "mode": "fulltext"}, headers=headers)
        detail = client.get(f"/api/postmortems/{identifier}", headers=headers)
        seen[identifier] = (
            detail.status_code == 200
            or identifier in listed
            or found.json()["total"] > 0
            or word in digest
        )
    return seen


def test_a_mistyped_visibility_is_served_as_restricted(client: TestClient) -> None:
    assert not any(_seen(client, {}).values())
    assert not any(_seen(client, OUTSIDER).values())
    assert all(_seen(client, INSIDER).values())  # still there for the audience it named
    assert client.get("/api/postmortems/2025-03-05-open").status_code == 200


def test_lint_names_the_mistyped_visibility_with_its_line(settings: Settings) -> None:
    _files(settings.library)
    result = CliRunner().invoke(main, ["lint", str(settings.library)])
    assert result.exit_code == 1
    for identifier, (visibility, _) in MISTYPED.items():
        lines = [line for line in result.output.splitlines() if f"{identifier}.md:" in line]
        assert any("'visibility' is" in line and "treated as restricted" in line for line in lines)
        line_number = int(lines[0].split(":")[1])
        text = (settings.library / "2025" / f"{identifier}.md").read_text("utf-8")
        assert text.splitlines()[line_number - 1].startswith("visibility:"), visibility


def test_restricted_without_audience_is_shown_to_nobody(settings: Settings) -> None:
    write(
        settings.library,
        "2025/orphan.md",
        postmortem_text(id="orphan", title="No audience", visibility="restricted"),
    )
    result = CliRunner().invoke(main, ["lint", str(settings.library)])
    assert "needs an 'audience'" in result.output and "shown to nobody" in result.output
    with TestClient(create_app(_proxied(settings)), client=(PROXY, 1)) as client:
        for headers in ({}, OUTSIDER, INSIDER, ADMIN):
            assert client.get("/api/postmortems/orphan", headers=headers).status_code == 404


def test_git_mode_fails_closed_too(settings: Settings, tmp_path: Path, open_library: Any) -> None:
    origin = Repo(tmp_path / "origin")
    origin.write(
        "2025/x.md",
        postmortem_text(
            id="x", title="Hidden in git", visibility="Restricted", audience=["security"]
        ),
    )
    origin.commit("a mistyped visibility")
    target = open_library(settings.model_copy(update={"git_url": str(origin.path)}))
    gitsync.sync(target)
    assert target.searcher_for(frozenset()).search("hidden git").total == 0
    assert (
        target.searcher_for(frozenset({"security"}))
        .search("hidden git", groups=frozenset({"security"}))
        .total
        == 1
    )


def test_invalid_ids_are_refused_with_a_problem(settings: Settings) -> None:
    evil = write(
        settings.library,
        "2025/evil.md",
        postmortem_text(id="../../etc/passwd", title="Path in the id"),
    )
    id_line = evil.read_text("utf-8").splitlines().index("id: ../../etc/passwd") + 1
    write(settings.library, "2025/fine.md", postmortem_text(id="fine", title="Fine one"))
    with TestClient(create_app(_proxied(settings)), client=(PROXY, 1)) as client:
        listed = client.get("/api/postmortems").json()["items"]
        assert [item["id"] for item in listed] == ["fine"]
        problems = client.get("/api/problems").json()["items"]
        (problem,) = [p for p in problems if p["path"].endswith("evil.md")]
        assert "may only use letters" in problem["message"] and problem["line"] == id_line


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_symlinks_out_of_the_library_are_refused(settings: Settings, tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere", "secret.md", postmortem_text(id="stolen", title="Away"))
    (settings.library / "2025").mkdir(parents=True)
    (settings.library / "2025" / "link.md").symlink_to(outside)
    inside = write(settings.library, "2025/real.md", postmortem_text(id="real", title="Real one"))
    (settings.library / "2025" / "alias.md").symlink_to(inside)  # inside: fine, same id
    with TestClient(create_app(_proxied(settings)), client=(PROXY, 1)) as client:
        assert client.get("/api/postmortems/stolen").status_code == 404
        problems = client.get("/api/problems", headers=ADMIN).json()["items"]
        (problem,) = [p for p in problems if p["path"].endswith("link.md")]
        assert "outside the library" in problem["message"]
        assert client.get("/api/postmortems/real").status_code == 200


def test_problems_of_files_that_may_be_restricted_are_for_admins(settings: Settings) -> None:
    broken = "---\ntitle: [unclosed\nvisibility: {kind}\n---\nbody\n"
    write(settings.library, "2025/secret-broken.md", broken.format(kind="restricted"))
    write(settings.library, "2025/typo-broken.md", broken.format(kind="Restricted"))
    write(settings.library, "2025/open-broken.md", broken.format(kind="internal"))
    write(settings.library, "2025/plain-broken.md", "---\ntitle: [unclosed\n---\nbody\n")
    with TestClient(create_app(_proxied(settings)), client=(PROXY, 1)) as client:
        for headers in ({}, OUTSIDER, INSIDER):
            listed = client.get("/api/problems", headers=headers).json()["items"]
            shown = {p["path"] for p in listed}
            assert shown == {"2025/open-broken.md", "2025/plain-broken.md"}
        every = {p["path"] for p in client.get("/api/problems", headers=ADMIN).json()["items"]}
        assert len(every) == 4
