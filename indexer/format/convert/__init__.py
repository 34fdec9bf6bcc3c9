"""`pml import postmortems`: postmortems written elsewhere, as files of this library.

`convert(source, out)` reads a folder (or one file) of Markdown in any
template and with any front matter or none, Confluence HTML exports, Word
files and Notion exports, and writes one postmortem per file into
`out/YYYY/`. Every file written parses and lints without errors; what the
converter could not decide is in its `review` and `suggested` fields, which
`pml lint` reports as warnings saying what to do. One unreadable file never
stops the rest: it gets a `failed` line in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import quote

import yaml

from indexer.format import authoring, files, lint, postmortem, taxonomy
from indexer.format.convert._readers import SUFFIXES, ConvertError, read
from indexer.format.convert._shape import shape

SKIPPED_NAMES = {"readme.md", "_index.md", "changelog.md", "license.md", "contributing.md"}
SKIPPED_FOLDERS = {"attachments", "images", "styles", "assets", "static", "node_modules"}


@dataclass
class FileReport:
    """One source file's outcome: `converted`, `needs attention` or `failed`."""

    source: str
    outcome: str
    target: str | None = None
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        arrow = f" -> {self.target}" if self.target else ""
        why = f": {'; '.join(self.reasons)}" if self.reasons else ""
        return f"{self.outcome}: {self.source}{arrow}{why}"


@dataclass
class ConversionReport:
    files: list[FileReport] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for report in self.files if report.outcome == outcome)

    def summary(self) -> str:
        return (
            f"{self.count('converted')} converted, {self.count('needs attention')} need attention, "
            f"{self.count('failed')} failed"
        )


def sources(root: Path) -> list[Path]:
    """The files under `root` the converter reads: Markdown, HTML and Word, no assets."""
    if root.is_file():
        return [root]
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or path.suffix.lower() not in SUFFIXES:
            continue
        if path.name.lower() in SKIPPED_NAMES or path.name.startswith((".", "~$")):
            continue
        if any(part.startswith(".") or part in SKIPPED_FOLDERS for part in relative.parts[:-1]):
            continue
        found.append(path)
    return found


def convert(
    source: Path, out: Path, *, base_url: str | None = None, today: date | None = None
) -> ConversionReport:
    """Convert every file under `source` into `out`; never overwrites a file."""
    today = today or date.today()
    out.mkdir(parents=True, exist_ok=True)
    vocabulary = taxonomy.load(taxonomy.find_root(out))
    taken = authoring.taken_ids(out)
    report = ConversionReport()
    root = source if source.is_dir() else source.parent
    for path in sources(source):
        name = str(path.relative_to(root))
        if not path.resolve().is_relative_to(root.resolve()):
            # A link to a secrets file must not become a postmortem everyone reads.
            reason = "a symbolic link to a file outside the source folder; not converted"
            report.files.append(FileReport(name, "failed", reasons=[reason]))
            continue
        try:
            report.files.append(_convert_one(path, name, out, vocabulary, taken, base_url, today))
        except ConvertError as error:
            report.files.append(FileReport(name, "failed", reasons=[str(error)]))
        except OSError as error:
            report.files.append(FileReport(name, "failed", reasons=[error.strerror or str(error)]))
        except Exception as error:  # one odd file must not stop a migration of hundreds
            reason = f"could not be converted ({type(error).__name__}: {error}); please report it"
            report.files.append(FileReport(name, "failed", reasons=[reason]))
    return report


def _convert_one(
    path: Path,
    name: str,
    out: Path,
    vocabulary: taxonomy.Taxonomy,
    taken: set[str],
    base_url: str | None,
    today: date,
) -> FileReport:
    source = read(path, name)
    url = base_url.rstrip("/") + "/" + quote(name) if base_url else name
    shaped = shape(source, vocabulary, url, today)
    day = date.fromisoformat(shaped.front["date"])
    identifier = _fresh_id(f"{day.isoformat()}-{authoring.slug(shaped.front['title'])}", taken)
    front = {
        "schema": 1,
        "id": identifier,
        **{k: v for k, v in shaped.front.items() if k != "schema"},
    }
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=100)
    text = f"---\n{header}---\n\n{shaped.body}"
    target = out / str(day.year) / f"{identifier}.md"
    shown = str(target)
    try:
        parsed = postmortem.parse(text, shown)
    except postmortem.MalformedPostmortem as error:
        raise ConvertError(f"the converted file would not be readable: {error}") from None
    errors = [f for f in lint.lint_postmortem(parsed, vocabulary) if f.level == "error"]
    if errors:
        raise ConvertError(f"the converted file would not lint: {errors[0].message}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("x", encoding="utf-8") as handle:
        handle.write(text)
    taken.add(identifier)
    if shaped.review:
        return FileReport(name, "needs attention", shown, shaped.review)
    return FileReport(name, "converted", shown)


def _fresh_id(base: str, taken: set[str]) -> str:
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


__all__ = ["ConversionReport", "ConvertError", "FileReport", "convert", "files", "sources"]
