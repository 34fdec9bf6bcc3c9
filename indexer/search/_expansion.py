"""Query expansion: the other names of what a query says, from the library's taxonomy.

An engineer types "oom" and the postmortem says "out of memory": a query that
names an error class of taxonomy.yaml by id, title or alias also matches
postmortems tagged with it, and texts using the class's other names,
matched on stemmed words (so "rolled back" matches "roll back").

A built-in vocabulary of general synonyms ("dns" / "domain name system",
38 groups) was removed in issue 26: under cross-validation on 80 judged
queries it scored the same as no vocabulary (hybrid +0.000, 90% interval
[-0.014, +0.014]; full-text -0.005), and the simpler design ships. A
library's own words belong in taxonomy.yaml as aliases.

Other names add to the full-text query at `PHRASE_BOOST` of a query word's
weight; they never replace it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from indexer.format.taxonomy import Taxonomy
from indexer.search._query import Expansion
from indexer.search._schema import analyze

MAX_PHRASES = 24  # per query: a broad query must not turn into a search for everything

Words = tuple[str, ...]


@lru_cache(maxsize=4096)
def _words(text: str) -> Words:
    return tuple(analyze(text))


def _contains(words: Words, part: Words) -> bool:
    n = len(part)
    return n > 0 and any(words[i : i + n] == part for i in range(len(words) - n + 1))


def _others(words: Words, group: Iterable[tuple[str, Words]]) -> list[str] | None:
    """The group's names the query does not already say, if the query says one of them."""
    named = [(name, part) for name, part in group if part]
    if not any(_contains(words, part) for _, part in named):
        return None
    return [name for name, part in named if not _contains(words, part)]


def content_words(text: str) -> Words:
    """The words of `text` that search reads (stemmed, no stop words)."""
    return _words(text)


def expand(vocabulary: Taxonomy, query: str) -> Expansion:
    """Error classes the query names, and other names of what it describes."""
    words = _words(query)
    if not words:
        return Expansion()
    classes: list[str] = []
    phrases: dict[str, None] = {}
    for term in vocabulary.error_classes.values():
        names = [term.id.replace("-", " "), term.title, *term.aliases]
        others = _others(words, ((name, _words(name)) for name in names if name))
        if others is not None:
            classes.append(term.id)
            phrases.update(dict.fromkeys(others))
    return Expansion(tuple(classes), tuple(list(phrases)[:MAX_PHRASES]))
