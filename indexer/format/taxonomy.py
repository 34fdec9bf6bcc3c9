"""The controlled vocabulary (`taxonomy.yaml`): services, error classes, factors."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.format import frontmatter

FILE_NAME = "taxonomy.yaml"
_PUNCTUATION = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Term:
    id: str
    title: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()
    team: str | None = None

    @property
    def words(self) -> str:
        """Everything a searcher might call this term, for the full-text index."""
        return " ".join([self.id.replace("-", " "), self.title, *self.aliases])


@dataclass
class Taxonomy:
    services: dict[str, Term] = field(default_factory=dict)
    error_classes: dict[str, Term] = field(default_factory=dict)
    contributing_factors: dict[str, Term] = field(default_factory=dict)
    # Teams besides the services' owners (`team:` of a service): `teams:` in the file.
    other_teams: tuple[str, ...] = ()
    path: Path | None = None
    _names: dict[str, str] | None = field(default=None, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        return not (self.services or self.error_classes or self.contributing_factors)

    @property
    def teams(self) -> list[str]:
        """Every team the library knows: the services' owners and the `teams:` list."""
        owners = {term.team for term in self.services.values() if term.team}
        return sorted(owners | set(self.other_teams))

    def kind(self, name: str) -> dict[str, Term]:
        vocabulary: dict[str, Term] = getattr(self, name)
        return vocabulary

    def service_for(self, keys: tuple[str, ...] | list[str]) -> str | None:
        """The taxonomy service that one of `keys` (vendor names or ids) names, or None.

        A key matches a service's id or one of its `aliases`, ignoring case and
        punctuation ("Checkout API", "checkout_api" and "checkout-api" are one name),
        so PagerDuty and Opsgenie service ids can be listed as aliases verbatim.
        """
        known = self._service_names()
        for key in keys:
            found = known.get(name_key(key))
            if found:
                return found
        return None

    def _service_names(self) -> dict[str, str]:
        if self._names is None:
            names: dict[str, str] = {}
            for term in self.services.values():
                for name in (term.id, *term.aliases):
                    names.setdefault(name_key(name), term.id)
            self._names = names
        return self._names

    def words_for(self, name: str, values: list[str]) -> str:
        vocabulary = self.kind(name)
        return " ".join(
            vocabulary[v].words if v in vocabulary else v.replace("-", " ") for v in values
        )


def name_key(name: str) -> str:
    """A service name or alias as compared: lower case, runs of punctuation as one dash."""
    return _PUNCTUATION.sub("-", name.strip().lower()).strip("-")


class TaxonomyError(ValueError):
    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


def suggest(value: str, choices: list[str] | dict[str, Any]) -> str | None:
    """The closest known value, for a did-you-mean."""
    matches = difflib.get_close_matches(value.lower(), list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def load(library: Path) -> Taxonomy:
    """Load `taxonomy.yaml` from the library folder; an absent file is an empty taxonomy."""
    path = library / FILE_NAME
    if not path.is_file():
        return Taxonomy()
    return parse(path.read_text(encoding="utf-8"), path)


def parse(text: str, path: Path) -> Taxonomy:
    """Parse taxonomy text; `path` is only used in messages (it may name a git blob)."""
    if not text.strip():
        return Taxonomy(path=path)
    try:
        data = frontmatter.load(text)
    except frontmatter.FrontMatterError as error:
        raise TaxonomyError(path, error.line, error.message) from None
    if not isinstance(data, dict):
        raise TaxonomyError(path, 1, "taxonomy must be a mapping with services, error_classes, ...")
    taxonomy = Taxonomy(path=path)
    for kind in ("services", "error_classes", "contributing_factors"):
        entries = data.get(kind) or []
        if not isinstance(entries, list):
            raise TaxonomyError(path, 1, f"'{kind}' must be a list")
        vocabulary = taxonomy.kind(kind)
        for entry in entries:
            term = _term(path, kind, entry)
            vocabulary[term.id] = term
    taxonomy.other_teams = tuple(_term(path, "teams", entry).id for entry in _teams(path, data))
    return taxonomy


def _teams(path: Path, data: dict[str, Any]) -> list[Any]:
    entries = data.get("teams") or []
    if not isinstance(entries, list):
        raise TaxonomyError(path, 1, "'teams' must be a list")
    return entries


def _term(path: Path, kind: str, entry: Any) -> Term:
    if isinstance(entry, str):
        return Term(id=entry)
    if not isinstance(entry, dict) or not entry.get("id"):
        raise TaxonomyError(path, 1, f"every entry of '{kind}' needs an id")
    aliases = entry.get("aliases") or []
    return Term(
        id=str(entry["id"]),
        title=str(entry.get("title") or ""),
        description=str(entry.get("description") or ""),
        aliases=tuple(str(alias) for alias in aliases),
        team=entry.get("team"),
    )


def find_root(path: Path) -> Path:
    """The nearest folder at or above `path` that holds a taxonomy.yaml (else `path`'s folder)."""
    start = path if path.is_dir() else path.parent
    for folder in [start, *start.resolve().parents]:
        if (folder / FILE_NAME).is_file():
            return folder
    return start
