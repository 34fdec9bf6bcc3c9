"""Everything a user can set, call or run is documented in README.md or docs/*.md.

In the manner of datasette's tests/test_docs.py: the settings, routes and
commands are read from the live objects (the `Settings` model, the app
`create_app` builds, the click group), so whatever is added later is
covered without touching this file, and each undocumented one is its own
failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from itertools import product

import click
import pytest
from starlette.routing import Mount

from api.app import create_app
from api.cli import main
from indexer.config import Settings
from tests.conftest import ROOT
from tests.routes import every_route

PARAMETER = re.compile(r"\{[^{},]*\}")  # {postmortem_id}, {id}: any one path segment
ALTERNATIVES = re.compile(r"\{([^{}]*,[^{}]*)\}")  # {mttr,mtta}.csv: brace expansion
PATH = re.compile(r"(?<![\w.])/[\w\-.{}|,/]*")


@cache
def documentation() -> str:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    # A table cell escapes its pipes: `/api/trends/mttr\|mtta` means mttr or mtta.
    return "\n".join(page.read_text(encoding="utf-8") for page in pages).replace("\\|", "|")


@cache
def documented_paths() -> frozenset[str]:
    """Every path the documentation names, parameters written as `{}`, alternatives expanded."""
    return frozenset(
        PARAMETER.sub("{}", expanded.rstrip(".,"))
        for written in PATH.findall(documentation())
        for alternative in _alternatives(written)
        for expanded in _braces(alternative)
    )


def _alternatives(path: str) -> Iterator[str]:
    """`/api/trends/mttr|mtta|mttd` is three paths: the alternatives replace the last segment."""
    first, *others = path.split("|")
    yield first
    stem = first.rsplit("/", 1)[0]
    for other in others:
        yield other if other.startswith("/") else f"{stem}/{other}"


def _braces(path: str) -> Iterator[str]:
    """`/trends/{services,mttr}.csv` is two paths (a parameter `{id}` stays as it is)."""
    pieces = ALTERNATIVES.split(path)  # literal, choices, literal, choices, ...
    choices = [piece.split(",") if index % 2 else [piece] for index, piece in enumerate(pieces)]
    for combination in product(*choices):
        yield "".join(combination)


def _routes() -> list[str]:
    paths = []
    for route in every_route(create_app(Settings()).routes):
        paths.append(route.path + ("/…" if isinstance(route, Mount) else ""))
    return sorted(set(paths))


def _commands(group: click.Group = main, prefix: str = "pml") -> Iterator[str]:
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        yield f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix} {name}")


@pytest.mark.parametrize("setting", sorted(f"PML_{name.upper()}" for name in Settings.model_fields))
def test_setting_is_documented(setting: str) -> None:
    assert re.search(rf"\b{setting}\b", documentation()), f"{setting} is not documented"


@pytest.mark.parametrize("path", _routes())
def test_route_is_documented(path: str) -> None:
    if path.endswith("/…"):  # a mounted folder: documented if a file under it is
        mount = path.removesuffix("/…")
        assert any(p.startswith(f"{mount}/") for p in documented_paths()), path
        return
    # A parameter is documented by its name (`{id}`, any name) or by an example value.
    pattern = re.compile("[^/]+".join(map(re.escape, PARAMETER.split(path))))
    assert any(pattern.fullmatch(p) for p in documented_paths()), f"{path} is not documented"


@pytest.mark.parametrize("command", list(_commands()))
def test_command_is_documented(command: str) -> None:
    assert re.search(rf"`{command}\b", documentation()), f"`{command}` is not documented"
