"""Snippets: the sentences of a postmortem that match a query, with the matching words in bold.

- A snippet starts at a sentence boundary and never runs the title or a
  heading into the text: text is read line by line, and lines that are the
  title or a heading are skipped.
- Query words are highlighted wherever they occur (stemmed, so "rolled"
  marks "rolling"). Other names from expansion are highlighted only where the
  whole name occurs: "out of memory" is marked, a lone "out" or "ran" is not.
- For a pasted error message (a query of ERROR_WORDS or more words), the line
  that holds most of its words is the snippet, as it is: that is the line the
  reader is looking for.

Everything is HTML-escaped except the <b> marks.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

from indexer.search._schema import analyze

SNIPPET_CHARS = 240
ERROR_WORDS = 5
ERROR_SHARE = 0.6  # of the query's words, for a line to be the error message's line
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_TOKEN = re.compile(r"[A-Za-z0-9_]+")

Phrase = tuple[str, ...]


@lru_cache(maxsize=65536)
def _stem(word: str) -> str | None:
    stems = analyze(word)
    return stems[0] if len(stems) == 1 else None


def phrases_of(names: tuple[str, ...]) -> tuple[Phrase, ...]:
    """Expansion names as stem sequences (stop words dropped)."""
    return tuple(p for p in (tuple(analyze(name)) for name in names) if p)


def _marks(text: str, words: frozenset[str], phrases: tuple[Phrase, ...]) -> list[tuple[int, int]]:
    """Character spans to highlight: query words anywhere, whole expansion names."""
    tokens = [(m.start(), m.end(), _stem(m.group())) for m in _TOKEN.finditer(text)]
    spans = [(start, end) for start, end, stem in tokens if stem is not None and stem in words]
    meaningful = [(start, end, stem) for start, end, stem in tokens if stem is not None]
    stems = [stem for _, _, stem in meaningful]
    for phrase in phrases:
        n = len(phrase)
        for i in range(len(stems) - n + 1):
            if tuple(stems[i : i + n]) == phrase:
                spans.append((meaningful[i][0], meaningful[i + n - 1][1]))
    return sorted(set(spans))


def _highlight(text: str, spans: list[tuple[int, int]]) -> str:
    out, at = [], 0
    for start, end in spans:
        if start < at:  # overlapping marks: keep the first
            continue
        out += [html.escape(text[at:start]), "<b>", html.escape(text[start:end]), "</b>"]
        at = end
    out.append(html.escape(text[at:]))
    return "".join(out)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def snippet(
    body: str,
    words: frozenset[str],
    phrases: tuple[Phrase, ...] = (),
    skip: frozenset[str] = frozenset(),
    error_words: int = 0,
) -> str:
    """The best-matching sentences of `body` (lines in `skip` are headings), highlighted.

    `words`: the query's own stems; `phrases`: expansion names as stems;
    `error_words`: how many words a pasted error message has (0: not one).
    """
    lines = [line.strip() for line in body.split("\n")]
    lines = [line for line in lines if line and line.lower() not in skip]
    best: tuple[int, int, int] | None = None  # (matches, line, sentence; -1: the whole line)
    # A stem is a prefix of the words it stands for, give or take its last letters
    # ("memori" for "memory"): lines without any of these cannot match.
    cues = {stem[:4] for stem in words} | {stem[:4] for phrase in phrases for stem in phrase}
    sentences: list[list[str]] = []
    for n, line in enumerate(lines):
        parts = _SENTENCE.split(line)
        sentences.append(parts)
        if error_words:
            count = len(words & {_stem(t) for t in _TOKEN.findall(line)})
            if count >= max(2, ERROR_SHARE * error_words) and (best is None or count > best[0]):
                best = (count, n, -1)
            continue
        lowered = line.lower()
        if not any(cue in lowered for cue in cues):  # cheap test first: most lines miss
            continue
        for m, sentence in enumerate(parts):
            count = len(_marks(sentence, words, phrases))
            if count and (best is None or count > best[0]):
                best = (count, n, m)
    if best is None:
        return ""
    _, line_no, sentence_no = best
    if sentence_no < 0:  # an error message's line, as it is
        text = _cut(lines[line_no], SNIPPET_CHARS)
    else:
        chosen = sentences[line_no][sentence_no:]
        text = chosen[0]
        for sentence in chosen[1:]:
            if len(text) + 1 + len(sentence) > SNIPPET_CHARS:
                break
            text += " " + sentence
        text = _cut(text, SNIPPET_CHARS)
    return _highlight(text, _marks(text, words, phrases))


def opening(body: str, skip: frozenset[str] = frozenset()) -> str:
    """The first sentences of the text (no title, no heading), escaped."""
    for line in body.split("\n"):
        line = line.strip()
        if line and line.lower() not in skip:
            return html.escape(_cut(line, SNIPPET_CHARS))
    return ""
