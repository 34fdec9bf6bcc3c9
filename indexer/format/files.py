"""Finding and reading the postmortem files of a library folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePath

from indexer.format.postmortem import Finding, MalformedPostmortem, Postmortem, parse

MAX_FILE_BYTES = 1024 * 1024
IGNORED_NAMES = {"README.md", "CHANGELOG.md", "CONTRIBUTING.md"}


def is_postmortem_path(relative: PurePath) -> bool:
    """Whether a path inside the library names a postmortem (not a template or a README)."""
    if relative.suffix != ".md" or relative.name in IGNORED_NAMES:
        return False
    return not any(part.startswith((".", "_")) for part in relative.parts)


def discover(root: Path) -> list[Path]:
    """Every postmortem file under `root`, sorted; templates and hidden files are skipped."""
    if root.is_file():
        return [root]
    found = []
    for path in root.rglob("*.md"):
        if is_postmortem_path(path.relative_to(root)) and path.is_file():
            found.append(path)
    return sorted(found)


def read_text(path: Path, display: str, inside: Path | None = None) -> str:
    """A file's text, or `MalformedPostmortem` if it is too large, not UTF-8, or outside.

    `inside` is the library root: a symbolic link that resolves to a file
    outside it (`/etc/passwd`, another checkout) is refused, so what the
    library serves is only ever what the library holds.
    """
    if inside is not None and not path.resolve().is_relative_to(inside.resolve()):
        raise MalformedPostmortem(
            display, 1, "the file is a symbolic link to a file outside the library; not indexed"
        )
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise MalformedPostmortem(
            display, 1, f"file is {size} bytes; the limit is {MAX_FILE_BYTES}"
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise MalformedPostmortem(display, 1, f"file is not UTF-8 text ({error.reason})") from None


def load_file(path: Path, display: str) -> Postmortem:
    return parse(read_text(path, display), display)


@dataclass(frozen=True)
class SourceFile:
    """One postmortem file wherever it lives: `path` is relative to the library root.

    `read()` returns the text or raises `MalformedPostmortem` (too large, not
    UTF-8) or `OSError`. A folder and a git tree both produce these.
    `digest`, when the source already knows the content hash of the text (a
    git blob that did not change since the last run), lets indexing skip
    reading a file whose stored hash matches.
    """

    path: str
    read: Callable[[], str]
    digest: str | None = None


def folder_files(root: Path) -> list[SourceFile]:
    """The postmortem files of a folder, keyed by their path inside it."""
    return [
        SourceFile(display, partial(read_text, path, display, root))
        for path, display in iter_files(root, Path("."))
    ]


@dataclass
class Scan:
    """The readable postmortems of a library and the files that could not be read."""

    postmortems: list[Postmortem] = field(default_factory=list)
    malformed: list[Finding] = field(default_factory=list)


def iter_files(root: Path, display_root: Path | None = None) -> Iterator[tuple[Path, str]]:
    """(path, display path) pairs; the display path is what messages show."""
    shown = display_root if display_root is not None else root
    for path in discover(root):
        display = str(shown / path.relative_to(root)) if root.is_dir() else str(shown)
        yield path, display


def scan(root: Path, display_root: Path | None = None) -> Scan:
    result = Scan()
    for path, display in iter_files(root, display_root):
        try:
            result.postmortems.append(load_file(path, display))
        except MalformedPostmortem as error:
            result.malformed.append(error.finding)
    return result
