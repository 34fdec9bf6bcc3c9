"""Cutting a postmortem into passages for semantic search.

One passage per section, prefixed with the title and heading so it stands on
its own ("Orders API timeouts. Contributing factors. PgBouncer's pool...").
Short sections are merged into the next one and long ones are cut into
overlapping windows, because the embedding model reads at most 256 word
pieces and a passage that is mostly padding or truncated embeds poorly.

A cut of one passage per paragraph scored the same as sections under
cross-validation (issue 26, docs/search.md) and embedded as many word pieces,
so it was removed: the section cut stays, and a library is not re-embedded.
GRANULARITY "plain" is the issue's reference cut, for benchmarks/eval_search.py
only: "Title. paragraph" for every paragraph.

The timeline and the action items are not embedded: they are lists of
timestamps and tasks whose meaning the other sections state in prose, and
they were a third of a sample postmortem's word pieces (embedding time grows
with them). Full-text search still reads every word of them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from indexer.format import markdown
from indexer.format.postmortem import Postmortem

# Bump when what `chunk` returns changes: every postmortem is then cut again.
VERSION = 2  # sections; benchmarks/eval_search.py indexes its reference cut apart
GRANULARITY = "sections"
MIN_WORDS = 40
MAX_WORDS = 160
OVERLAP_WORDS = 30
NOT_EMBEDDED = frozenset({"timeline", "action items"})


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    heading: str
    text: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _windows(words: list[str]) -> list[list[str]]:
    if len(words) <= MAX_WORDS:
        return [words]
    step = MAX_WORDS - OVERLAP_WORDS
    return [
        words[start : start + MAX_WORDS] for start in range(0, len(words) - OVERLAP_WORDS, step)
    ]


def _sections(postmortem: Postmortem) -> list[tuple[str, list[str]]]:
    """(heading, words) per section, with short sections merged into the next."""
    lead = " ".join(p for p in (postmortem.impact_summary, postmortem.trigger) if p)
    parts = [("Summary", lead.split())] if lead else []
    parts += [
        (s.heading or "Summary", s.text.split())
        for s in postmortem.sections
        if s.heading.strip().lower() not in NOT_EMBEDDED
    ]
    merged: list[tuple[str, list[str]]] = []
    carry: tuple[str, list[str]] | None = None
    for heading, words in parts:
        if carry is not None:
            heading, words = carry[0], carry[1] + words
            carry = None
        if len(words) < MIN_WORDS:
            carry = (heading, words)
            continue
        merged.append((heading, words))
    if carry is not None and carry[1]:
        if merged:
            merged[-1] = (merged[-1][0], merged[-1][1] + carry[1])
        else:
            merged.append(carry)
    return merged


def _blocks(text: str) -> list[list[str]]:
    """The words of each paragraph (blocks of lines between blank lines)."""
    return [block.split() for block in re.split(r"\n\s*\n", text) if block.split()]


def _plain(postmortem: Postmortem) -> list[Chunk]:
    """The issue's reference cut: "Title. paragraph" for every paragraph of the body
    as written, nothing merged, skipped or windowed (benchmarks/eval_search.py)."""
    body = "\n\n".join(s.text for s in markdown.sections(postmortem.body, paragraphs=True))
    return [
        Chunk(n, "", f"{postmortem.title}. {' '.join(words)}")
        for n, words in enumerate(_blocks(body))
    ]


def chunk(postmortem: Postmortem) -> list[Chunk]:
    """The passages of a postmortem, in document order (at least one: the title)."""
    if GRANULARITY == "plain":
        return _plain(postmortem) or [Chunk(0, "", postmortem.title)]
    result: list[Chunk] = []
    for heading, words in _sections(postmortem):
        for window in _windows(words):
            prefix = f"{postmortem.title}. {heading}." if heading else f"{postmortem.title}."
            result.append(Chunk(len(result), heading, f"{prefix} {' '.join(window)}"))
    return result or [Chunk(0, "", postmortem.title)]


def passage_text(passage: str, heading: str) -> str:
    """A stored passage without the "Title. Heading." prefix `chunk` gave it for the model."""
    marker = f"{heading}. " if heading else ". "
    position = passage.find(marker)
    return passage[position + len(marker) :] if position >= 0 else passage
