"""Following a git repository: real repositories in tmp_path, synced with the real git CLI."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from api.cli import main
from indexer.config import Settings
from indexer.db import models, store
from indexer.format import files as library
from indexer.indexing import git, githistory, gitsync
from indexer.library import Library
from tests.conftest import postmortem_text
from tests.gitrepo import Repo


@pytest.fixture
def origin(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "origin")
    repo.write("README.md", "# Our postmortems\n")
    repo.write("_template.md", "---\ntitle: template\n---\n")
    repo.write("2025/a.md", postmortem_text(id="a", title="Pool exhausted in orders"))
    repo.write("2025/b.md", postmortem_text(id="b", title="Certificate expired on the api"))
    repo.write("2025/c.md", postmortem_text(id="c", title="Disk full on search nodes"))
    repo.write("2025/d.md", postmortem_text(id="d", title="Queue backlog in notifications"))
    repo.commit("Four postmortems")
    return repo


@pytest.fixture
def following(settings: Settings, origin: Repo) -> Settings:
    return settings.model_copy(update={"git_url": str(origin.path)})


@pytest.fixture
def refusing(tmp_path: Path, origin: Repo) -> Settings:
    """SQLite only: URLs are refused before any database work that could differ."""
    return Settings(
        library=tmp_path / "library",
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'pml.sqlite3'}",
        git_url=str(origin.path),
    )


def titles(target: Library, query: str = "") -> list[str]:
    return sorted(hit.title for hit in target.index.search(query, limit=100).results)


def test_initial_sync_indexes_the_branch_head(
    following: Settings, origin: Repo, open_library: Any
) -> None:
    target = open_library(following)
    report = gitsync.sync(target)
    assert not report.incremental
    assert (report.index.added, report.files_read) == (4, 4)  # README and template skipped
    assert titles(target, "pool") == ["Pool exhausted in orders"]
    status = gitsync.status(target)
    assert status["state"] == "ok"
    assert status["commit"] == report.commit == origin.head()


def test_a_second_sync_reads_only_what_changed(
    following: Settings, origin: Repo, open_library: Any
) -> None:
    target = open_library(following)
    gitsync.sync(target)
    origin.write("2025/a.md", postmortem_text(id="a", title="Pool exhausted again in orders"))
    origin.git("mv", "postmortems/2025/b.md", "postmortems/2025/b-renamed.md")
    origin.git("rm", "--quiet", "postmortems/2025/c.md")
    origin.write("2026/e.md", postmortem_text(id="e", title="Flash sale cache stampede"))
    origin.commit("Change, rename, delete and add")

    report = gitsync.sync(target)
    assert report.incremental
    assert report.files_read == 3  # a (changed), b-renamed, e; d is never read
    index = report.index
    assert (index.added, index.updated, index.removed, index.unchanged) == (2, 1, 1, 1)
    assert titles(target) == [
        "Certificate expired on the api",
        "Flash sale cache stampede",
        "Pool exhausted again in orders",
        "Queue backlog in notifications",
    ]
    with store.session(target.engine) as db:
        assert store.known_hashes(db)["2025/b-renamed.md"][0] == "b"

    unchanged = gitsync.sync(target)
    assert (unchanged.files_read, unchanged.index.unchanged) == (0, 4)


def test_force_push_falls_back_to_a_full_comparison(
    following: Settings, origin: Repo, open_library: Any
) -> None:
    target = open_library(following)
    first = gitsync.sync(target)
    origin.write("2025/a.md", postmortem_text(id="a", title="Rewritten pool story"))
    origin.git("rm", "--quiet", "postmortems/2025/d.md")
    origin.git("add", "--all")
    origin.git("commit", "--quiet", "--amend", "-m", "Four postmortems, rewritten")

    report = gitsync.sync(target)
    assert report.previous == first.commit
    assert not report.incremental
    assert report.files_read == 3  # everything is compared again
    assert (report.index.updated, report.index.removed, report.index.unchanged) == (1, 1, 2)
    assert "Rewritten pool story" in titles(target)


def test_a_library_indexed_from_a_folder_meanwhile_is_compared_in_full(
    following: Settings, open_library: Any
) -> None:
    target = open_library(following)
    gitsync.sync(target)
    target.refresh()  # the (empty) library folder: everything leaves
    report = gitsync.sync(target)
    assert not report.incremental
    assert report.index.added == 4


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ext::sh -c touch% {marker}", "transport::address"),
        ("--upload-pack=touch {marker}", "starts with '-'"),
        ("-oProxyCommand=touch {marker}", "starts with '-'"),
        ("file://{origin}", "file:// URLs are not allowed"),
        ("ssh://-oProxyCommand=touch%20{marker}/repo", "invalid host"),
        ("-host:repo", "starts with '-'"),
        ("git@-oProxyCommand=true:repo", "invalid host"),
        ("ssh://-oProxyCommand=x@example.com/repo", "user name starting with '-'"),
        ("http://example.com/repo.git", "plain http"),
        ("fd::3", "transport::address"),
        ("ftp://example.com/repo.git", "'ftp' transport is not allowed"),
        ("{origin}/missing", "no repository at the local path"),
    ],
)
def test_malicious_or_unsupported_remotes_are_refused(
    refusing: Settings, open_library: Any, tmp_path: Path, url: str, reason: str
) -> None:
    marker = tmp_path / "pwned"
    bad = url.format(marker=marker, origin=refusing.git_url)
    target = open_library(refusing.model_copy(update={"git_url": bad}))
    with pytest.raises(gitsync.SyncError, match=reason):
        gitsync.sync(target)
    assert not marker.exists()
    status = gitsync.status(target)
    assert status["state"] == "failing"
    assert reason in status["last_error"]


def test_git_itself_refuses_the_ext_transport(tmp_path: Path) -> None:
    """Defence in depth: even past our URL check, git is configured to refuse ext::."""
    marker = tmp_path / "pwned"
    mirror = git.Mirror(tmp_path / "mirror.git")
    mirror.ensure()
    with pytest.raises(git.GitError):
        mirror.fetch(f"ext::sh -c touch% {marker}", "main")
    assert not marker.exists()


def test_allowed_remotes_pass_the_check(origin: Repo) -> None:
    for url in (
        "https://github.com/org/postmortems.git",
        "ssh://git@example.com:2222/org/postmortems.git",
        "git://example.com/postmortems.git",
        "git@github.com:org/postmortems.git",
    ):
        assert git.check_remote(url) == url
    assert git.check_remote(str(origin.path)) == str(origin.path.resolve())


def test_credentials_never_reach_the_status(refusing: Settings, open_library: Any) -> None:
    url = "https://user:s3cret@127.0.0.1:9/org/postmortems.git"
    target = open_library(refusing.model_copy(update={"git_url": url}))
    with pytest.raises(gitsync.SyncError):
        gitsync.sync(target)
    assert "s3cret" not in gitsync.status(target)["last_error"]


def test_symlinks_and_submodules_are_ignored_with_a_warning(
    following: Settings, origin: Repo, open_library: Any, caplog: pytest.LogCaptureFixture
) -> None:
    (origin.folder / "2025" / "link.md").symlink_to("a.md")
    (origin.folder / "outside.md").symlink_to("/etc/passwd")
    origin.git("add", "--all")
    gitlink = f"160000,{origin.head()},postmortems/vendored"
    origin.git("update-index", "--add", "--cacheinfo", gitlink)
    origin.git("commit", "--quiet", "-m", "A symlink and a submodule")

    target = open_library(following)
    with caplog.at_level(logging.WARNING, logger="pml.gitsync"):
        report = gitsync.sync(target)
    assert report.index.added == 4
    assert sorted(report.warnings) == [
        "postmortems/2025/link.md: symlink ignored; only regular files are read",
        "postmortems/outside.md: symlink ignored; only regular files are read",
        "postmortems/vendored: submodule ignored; only regular files are read",
    ]
    assert "submodule ignored" in caplog.text


def test_oversized_files_are_skipped_and_reported(
    following: Settings, origin: Repo, open_library: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(library, "MAX_FILE_BYTES", 9000)  # the taxonomy is 7 KiB
    origin.write("2025/big.md", postmortem_text(id="big", summary="word " * 2000))
    origin.commit("A big one")
    report = gitsync.sync(open_library(following))
    assert [p.path for p in report.index.problems] == ["2025/big.md"]
    assert "the limit is 9000" in report.index.problems[0].message
    assert report.index.added == 4


def test_too_many_files_fail_the_sync_and_keep_the_index(
    following: Settings, origin: Repo, open_library: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = open_library(following)
    gitsync.sync(target)
    monkeypatch.setattr(gitsync, "MAX_FILES", 3)
    with pytest.raises(gitsync.SyncError, match="holds 4 postmortems; the limit is 3"):
        gitsync.sync(target)
    assert len(titles(target)) == 4


def test_a_failed_sync_keeps_the_previous_index(
    following: Settings, origin: Repo, open_library: Any
) -> None:
    target = open_library(following)
    good = gitsync.sync(target)
    origin.write("taxonomy.yaml", "services: [\n")
    origin.write("2026/e.md", postmortem_text(id="e", title="Never indexed"))
    origin.commit("Broken taxonomy")
    with pytest.raises(gitsync.SyncError, match=r"taxonomy\.yaml"):
        gitsync.sync(target)
    assert "Never indexed" not in titles(target)
    status = gitsync.status(target)
    assert (status["state"], status["commit"]) == ("failing", good.commit)
    assert "taxonomy.yaml" in status["last_error"]

    origin.git("revert", "--no-edit", "HEAD")
    fixed = gitsync.sync(target)
    assert fixed.incremental
    assert gitsync.status(target)["state"] == "ok"


def test_missing_branch_is_a_clear_error(following: Settings, open_library: Any) -> None:
    target = open_library(following.model_copy(update={"git_branch": "release"}))
    with pytest.raises(gitsync.SyncError, match="couldn't find remote ref refs/heads/release"):
        gitsync.sync(target)
    bad = open_library(following.model_copy(update={"git_branch": "a..b"}))
    with pytest.raises(gitsync.SyncError, match="not a valid branch name"):
        gitsync.sync(bad)


def test_library_at_the_repository_root_or_a_configured_folder(
    settings: Settings, tmp_path: Path, open_library: Any
) -> None:
    root = Repo(tmp_path / "flat", folder="")
    root.write("2025/a.md", postmortem_text(id="a", title="At the root"))
    root.write("docs/notes.md", postmortem_text(id="n", title="Docs, not a postmortem"))
    root.commit("Flat")
    flat = settings.model_copy(update={"git_url": str(root.path), "git_path": "."})
    assert gitsync.sync(open_library(flat)).index.added == 2

    only_2025 = flat.model_copy(update={"git_path": "2025", "data_dir": tmp_path / "data2"})
    report = gitsync.sync(open_library(only_2025))
    assert report.index.added == 1
    missing = flat.model_copy(update={"git_path": "nope", "data_dir": tmp_path / "data3"})
    with pytest.raises(gitsync.SyncError, match="no folder 'nope'"):
        gitsync.sync(open_library(missing))


def test_a_renamed_library_folder_fails_the_sync_and_never_widens_the_root(
    following: Settings, origin: Repo, open_library: Any
) -> None:
    """Issue 29: the root followed `postmortems/` out of the repository and published notes."""
    target = open_library(following)
    good = gitsync.sync(target)
    origin.write("../notes/meeting.md", postmortem_text(id="meeting", title="Meeting notes"))
    origin.git("mv", "postmortems", "archive")
    origin.commit("Rename the library folder")
    with pytest.raises(gitsync.SyncError, match="no folder 'postmortems'"):
        gitsync.sync(target)
    assert "Meeting notes" not in titles(target)
    assert "Pool exhausted in orders" in titles(target)  # the last good library serves
    status = gitsync.status(target)
    assert (status["state"], status["commit"]) == ("failing", good.commit)
    assert "no folder 'postmortems'" in status["last_error"]


def test_a_file_with_a_nul_is_skipped_and_search_holds_only_what_the_database_does(
    following: Settings, origin: Repo, open_library: Any
) -> None:
    """Issue 29: PostgreSQL refused the batch after the index had committed it."""
    target = open_library(following)
    gitsync.sync(target)
    # A NUL written as a YAML escape in the front matter, and a raw one in the body.
    origin.write("2026/escaped.md", postmortem_text(id="esc", title="Zanzibar \x00 outage"))
    raw = postmortem_text(id="raw", title="Zanzibar raw outage", summary="Zanzibar \x00 bytes")
    origin.write("2026/raw.md", raw)
    origin.write("2026/fine.md", postmortem_text(id="fine", title="Zanzibar cache outage"))
    origin.commit("One good file, two with a NUL")
    report = gitsync.sync(target)
    found = sorted((p.path, p.line) for p in report.index.problems)
    body_line = raw.split("\n").index("Zanzibar \x00 bytes") + 1
    assert found == [("2026/escaped.md", 3), ("2026/raw.md", body_line)]
    assert all("NUL" in problem.message for problem in report.index.problems)
    assert titles(target, "zanzibar") == ["Zanzibar cache outage"]
    with store.session(target.engine) as db:
        assert set(store.known_hashes(db)) == {f"2025/{x}.md" for x in "abcd"} | {"2026/fine.md"}


def when(day: int) -> str:
    return f"2025-03-{day:02d}T10:00:00+00:00"


def test_history_follows_renames_and_continues_incrementally(
    following: Settings, origin: Repo, open_library: Any
) -> None:
    origin.write("2025/pool.md", postmortem_text(id="pool", title="Pool"))
    origin.commit("Add", author="Ann Author", when=when(1))
    origin.write("2025/pool.md", postmortem_text(id="pool", title="Pool, reviewed"))
    origin.commit("Review", author="Bob Builder", when=when(2))
    origin.git("mv", "postmortems/2025/pool.md", "postmortems/2025/orders-pool.md")
    origin.commit("Rename", author="Cara Clerk", when=when(3))
    target = open_library(following)
    gitsync.sync(target)
    template = "https://git.example.com/pm/blob/{commit}/{path}"
    with store.session(target.engine) as db:
        history = githistory.describe(db, "2025/orders-pool.md", template)
    assert history is not None
    assert history["created_at"] == when(1)
    assert history["updated_at"] == when(3)
    assert history["authors"] == ["Ann Author", "Bob Builder", "Cara Clerk"]
    assert history["web_url"] == (
        f"https://git.example.com/pm/blob/{origin.head()}/postmortems/2025/orders-pool.md"
    )

    origin.git("mv", "postmortems/2025/orders-pool.md", "postmortems/2025/pool-final.md")
    origin.commit("Rename again", author="Dan Dev", when=when(4))
    origin.write("2025/pool-final.md", postmortem_text(id="pool", title="Pool, final"))
    origin.commit("Edit", author="Bob Builder", when=when(5))
    report = gitsync.sync(target)
    assert report.incremental and report.history_updated == 1
    with store.session(target.engine) as db:
        history = githistory.describe(db, "2025/pool-final.md", None)
        assert db.get(models.HistoryRow, "2025/orders-pool.md") is None
    assert history is not None
    assert (history["created_at"], history["updated_at"]) == (when(1), when(5))
    assert history["authors"] == ["Ann Author", "Bob Builder", "Cara Clerk", "Dan Dev"]
    assert history["commit"] == origin.head()
    assert history["web_url"] is None


def test_history_of_a_deleted_and_recreated_file_starts_again(
    following: Settings, origin: Repo, open_library: Any
) -> None:
    origin.git("rm", "--quiet", "postmortems/2025/a.md")
    origin.commit("Remove a", when=when(10))
    origin.write("2025/a.md", postmortem_text(id="a", title="A, written anew"))
    origin.commit("Add a again", author="Eve Editor", when=when(11))
    target = open_library(following)
    gitsync.sync(target)
    with store.session(target.engine) as db:
        history = githistory.describe(db, "2025/a.md", None)
    assert history is not None
    assert (history["created_at"], history["authors"]) == (when(11), ["Eve Editor"])


def test_history_parses_dates_with_offsets() -> None:
    raw = (
        b"\x01abc\x1fZoe\x1f2025-03-14T18:02:00+02:00\x00\nM\x00p/x.md\x00"
        b"R087\x00p/old.md\x00p/new.md\x00"
    )
    [commit] = githistory.parse_log(raw)
    assert commit.when == datetime.fromisoformat("2025-03-14T16:02:00+00:00")
    assert [(c.status, c.path, c.old_path) for c in commit.changes] == [
        ("M", "p/x.md", None),
        ("R", "p/new.md", "p/old.md"),
    ]


def test_pml_sync_command(following: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PML_GIT_URL", str(following.git_url))
    monkeypatch.setenv("PML_DATA_DIR", str(following.data_dir))
    monkeypatch.setenv("PML_DATABASE_URL", str(following.database_url))
    monkeypatch.setenv("PML_LIBRARY", str(following.library))  # an empty folder
    monkeypatch.setenv("PML_GIT_WEB_URL", "https://example.com/{commit}/{path}")
    result = CliRunner().invoke(main, ["sync"])
    assert result.exit_code == 0, result.output
    assert "4 added" in result.output

    # The other commands read what the sync indexed; none re-indexes the local folder.
    found = CliRunner().invoke(main, ["search", "--json", "pool exhausted"])
    assert json.loads(found.stdout)["results"][0]["id"] == "a"
    shown = json.loads(CliRunner().invoke(main, ["show", "--json", "a"]).stdout)
    assert shown["history"]["web_url"].endswith("/postmortems/2025/a.md")
    refused = CliRunner().invoke(main, ["index"])
    assert refused.exit_code == 2
    assert "run `pml sync`" in refused.output

    monkeypatch.setenv("PML_GIT_URL", "ext::sh -c true")
    failed = CliRunner().invoke(main, ["sync"])
    assert failed.exit_code == 1
    assert "sync failed: 'transport::address' remotes" in failed.output
