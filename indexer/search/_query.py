"""Turning what a person types into a safe tantivy query.

The tantivy query language has field prefixes, ranges and operators that a
search box should not expose: `error: 500` would be read as a search of a
field called `error`. So the text is split into words, quoted phrases and
`-excluded` words, every piece is re-quoted, and only then parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_QUERY_LENGTH = 500
MAX_TERMS = 32
_PIECE = re.compile(r'(-?)"([^"]*)"|(-?)([^\s"]+)')
_WORD = re.compile(r"[\w.'+#/-]+")
_OPERATORS = {"AND", "OR", "NOT", "&&", "||"}


# Words that frame a question rather than say what it is about: the kind of
# answer wanted (postmortems, incidents), the question words and what holds
# them together ("incidents where ...", "which postmortems describe ...",
# "what went wrong when ..."). A library is made of incidents, so these match
# every postmortem in words and pull a query's meaning toward "an incident"
# in general. Only a leading run of them is framing: inside a sentence, "a
# deploy that caused an outage" is about the outage.
FRAMING = frozenset(
    """
    a an the any all some our we us i me you my your there
    what which who when where why how whether
    is are was were be been do does did have has had can could
    show find list give tell search looking want need explain
    incident incidents outage outages postmortem postmortems post-mortem post-mortems
    writeup writeups write-up write-ups example examples
    that in of on about for with involving describing describe describes
    mention mentions mentioning went wrong happened caused by
    """.split()
)


def topic(text: str) -> str:
    """`text` without a leading run of framing words ("incidents where", "which
    postmortems describe", "what went wrong when"), if anything is left; else as typed.

    Quoted phrases and excluded words are never framing.
    """
    words = text.split()
    start = 0
    while start < len(words) and words[start].lower().strip("?,.:;!") in FRAMING:
        start += 1
    if start == 0 or start == len(words):
        return text
    return " ".join(words[start:])


class SearchQueryError(ValueError):
    """A query that cannot be searched; the message is safe to show to the user."""


@dataclass(frozen=True)
class Expansion:
    """What a query also means (_expansion.py): error classes it names, whose
    tagged postmortems match too, and other names of what it describes."""

    error_classes: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()


@dataclass
class ParsedQuery:
    words: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    text: str = ""  # as typed

    @property
    def empty(self) -> bool:
        return not (self.words or self.phrases)

    def tantivy_syntax(self) -> str:
        """The query in tantivy syntax with every term quoted (so nothing is an operator).

        Proximity is not part of it: the index scores adjacent words from its
        `pairs` field (`_fulltext_query.QueryBuilder.together`).
        """
        parts = [f'"{word}"' for word in self.words]
        parts += [f'"{phrase}"' for phrase in self.phrases]
        parts += [f'-"{word}"' for word in self.excluded]
        return " ".join(parts)


def clean(text: str) -> str:
    """The searchable words of `text`, with anything that could be syntax dropped."""
    return " ".join(_WORD.findall(text.replace("\\", " ")))


def parse(text: str) -> ParsedQuery:
    """Parse a search box's text. Unbalanced quotes are dropped, never an error."""
    if len(text) > MAX_QUERY_LENGTH:
        raise SearchQueryError(f"query is {len(text)} characters; the limit is {MAX_QUERY_LENGTH}")
    if text.count('"') % 2:
        text = text.replace('"', " ")
    query = ParsedQuery(text=text)
    for match in _PIECE.finditer(text):
        negated_phrase, phrase, negated_word, word = match.groups()
        if phrase is not None:
            cleaned = clean(phrase)
            if cleaned:
                (query.excluded if negated_phrase else query.phrases).append(cleaned)
            continue
        if word in _OPERATORS:
            continue
        cleaned = clean(word)
        if not cleaned:
            continue
        target = query.excluded if negated_word else query.words
        target.extend(cleaned.split())
    query.words = query.words[:MAX_TERMS]
    return query


def parsed(query: str | ParsedQuery) -> ParsedQuery:
    """`query` parsed, unless it already is: a hybrid search parses its text once."""
    return query if isinstance(query, ParsedQuery) else parse(query)
