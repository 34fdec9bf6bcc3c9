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
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from functools import lru_cache

from indexer.search._schema import analyze

SNIPPET_CHARS = 240
ERROR_WORDS = 5
ERROR_SHARE = 0.6  # of the query's words, for a line to be the error message's line
CUE = 4  # at most, of the letters a query word must start with to be stemmed (`_cue`)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_TOKEN = re.compile(r"[A-Za-z0-9_]+")
_LINE = re.compile(r"[^\n]+")
# A sentence boundary inside a line (as _SENTENCE, never across a line break).
_BREAK = re.compile(r"(?<=[.!?])[^\S\n]+(?=[A-Z0-9\"'(\[])")

Phrase = tuple[str, ...]


@lru_cache(maxsize=65536)
def _stem(word: str) -> str | None:
    stems = analyze(word)
    return stems[0] if len(stems) == 1 else None


def phrases_of(names: tuple[str, ...]) -> tuple[Phrase, ...]:
    """Expansion names as stem sequences (stop words dropped)."""
    return tuple(p for p in (tuple(analyze(name)) for name in names) if p)


Token = tuple[int, int, str | None]  # start, end, stem (None: a stop word)


def _tokens(text: str, cues: re.Pattern[str]) -> list[Token]:
    """The tokens of `text` that may stand for a query word (see `_cues`), stemmed.

    ASCII text is lower-cased first and searched case-sensitively: the same
    matches at the same offsets, about twice as fast as IGNORECASE.
    """
    if text.isascii():
        text, cues = text.lower(), _case_sensitive(cues)
    return [(m.start(), m.end(), _stem(m.group())) for m in cues.finditer(text)]


@lru_cache(maxsize=1024)
def _case_sensitive(cues: re.Pattern[str]) -> re.Pattern[str]:
    """`cues` for lower-case text: its alternatives are lower-case stems' first letters."""
    return re.compile(cues.pattern, re.ASCII)


def _spans(
    text: str, found: list[Token], words: frozenset[str], phrases: tuple[Phrase, ...]
) -> set[tuple[int, int]]:
    """Character spans to mark among `found`: query words anywhere, whole expansion names."""
    spans = {(start, end) for start, end, stem in found if stem in words}
    spans.update(_phrase_marks(text, [t for t in found if t[2] is not None], phrases))
    return spans


def _marks(text: str, words: frozenset[str], phrases: tuple[Phrase, ...]) -> list[tuple[int, int]]:
    """Character spans to highlight in `text`, in order."""
    cues = _cues(words, phrases)
    return sorted(_spans(text, _tokens(text, cues), words, phrases)) if cues else []


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


def _cue(stem: str) -> str:
    """The first letters of `stem` that every word it stands for starts with.

    The English (Porter2) stemmer changes a word only in its last letter
    (y -> i, an e added: "any" -> "ani", "during" -> "dure") and in suffixes
    inside the region R1, which starts after the first consonant that
    follows a vowel; a suffix it rewrites keeps its first letter ("ational"
    -> "ate"). So the first R1 + 1 letters, less the last one, are the
    word's own (a handful of irregular forms such as "lying" aside). At most
    CUE letters: enough to skip most tokens.
    """
    return stem[: max(1, min(CUE, len(stem) - 1, _region(stem) + 1))]


def _region(word: str) -> int:
    """Where R1 starts: after the first non-vowel that follows a vowel."""
    vowel = False
    for at, letter in enumerate(word):
        is_vowel = letter in "aeiou" or (letter == "y" and at > 0 and word[at - 1] not in "aeiou")
        if vowel and not is_vowel:
            return at + 1
        vowel = vowel or is_vowel
    return len(word)


@lru_cache(maxsize=1024)
def _cues(words: frozenset[str], phrases: tuple[Phrase, ...]) -> re.Pattern[str] | None:
    """Tokens that may stand for a query word: those starting with a stem's first letters.

    Only these tokens need stemming. See `_cue` for why they are enough.
    """
    cues = {_cue(stem) for stem in words} | {_cue(stem) for phrase in phrases for stem in phrase}
    if not cues:
        return None
    alternatives = "|".join(re.escape(cue) for cue in sorted(cues, key=len, reverse=True))
    # ASCII: \w is [A-Za-z0-9_] as in _TOKEN, and compiling costs 0.06 ms, not 0.5.
    return re.compile(rf"\b(?:{alternatives})\w*", re.IGNORECASE | re.ASCII)


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
    The sentence with the most marks wins (the first, on a tie). The body is
    scanned once, and only the tokens that may match are stemmed.
    """
    cues = _cues(words, phrases)
    if cues is None:
        return ""
    found = _tokens(body, cues)
    if not found:
        return ""
    lines = _kept_lines(body, skip)
    if not lines:
        return ""
    if error_words:
        return _error_line(body, found, lines, words, phrases, error_words)
    line_of = _line_finder(lines)
    marked: dict[int, list[tuple[int, int]]] = {}  # kept line -> its marks
    for first, last in _spans(body, found, words, phrases):
        n = line_of(first, last)
        if n is not None:
            marked.setdefault(n, []).append((first, last))
    # A mark counts for the sentence it lies in (a name across two counts for
    # neither). Only lines with marks are cut into sentences.
    best, best_count = None, 0
    for n in sorted(marked):
        start, end = lines[n]
        starts, ends = [start], []
        for brk in _BREAK.finditer(body, start, end):
            ends.append(brk.start())
            starts.append(brk.end())
        ends.append(end)
        counts: Counter[int] = Counter()
        for first, last in marked[n]:
            sentence = bisect_right(starts, first) - 1
            if sentence >= 0 and last <= ends[sentence]:
                counts[sentence] += 1
        for sentence in sorted(counts):  # the first of the best
            if counts[sentence] > best_count:
                best, best_count = (starts[sentence], end), counts[sentence]
    if best is None:
        return ""
    chosen = _SENTENCE.split(body[best[0] : best[1]])
    text = chosen[0]
    for more in chosen[1:]:
        if len(text) + 1 + len(more) > SNIPPET_CHARS:
            break
        text += " " + more
    text = _cut(text, SNIPPET_CHARS)
    return _highlight(text, _marks(text, words, phrases))


def _kept_lines(body: str, skip: frozenset[str]) -> list[tuple[int, int]]:
    """(start, end) of each line, stripped, that is neither empty nor the title or a heading."""
    kept = []
    for match in _LINE.finditer(body):
        raw = match.group()
        text = raw.strip()
        if text and text.lower() not in skip:
            start = match.start() + len(raw) - len(raw.lstrip())
            kept.append((start, start + len(text)))
    return kept


def _line_finder(lines: list[tuple[int, int]]) -> Callable[[int, int], int | None]:
    """Which kept line a span lies in, wholly (None: a skipped line, or across two)."""
    starts = [start for start, _ in lines]

    def line_of(first: int, last: int) -> int | None:
        n = bisect_right(starts, first) - 1
        return n if n >= 0 and last <= lines[n][1] else None

    return line_of


def _error_line(
    body: str,
    found: list[Token],
    lines: list[tuple[int, int]],
    words: frozenset[str],
    phrases: tuple[Phrase, ...],
    error_words: int,
) -> str:
    """The line holding most of a pasted error message's words, as it is ("" if none does)."""
    held: dict[int, set[str]] = {}
    line_of = _line_finder(lines)
    for first, last, stem in found:
        if stem is None or stem not in words:
            continue
        n = line_of(first, last)
        if n is not None:
            held.setdefault(n, set()).add(stem)
    enough = max(2, ERROR_SHARE * error_words)
    best = [n for n in sorted(held) if len(held[n]) >= enough]
    if not best:
        return ""
    n = max(best, key=lambda n: len(held[n]))  # the first of the best
    start, end = lines[n]
    text = _cut(body[start:end], SNIPPET_CHARS)
    return _highlight(text, _marks(text, words, phrases))


def _phrase_marks(
    body: str, found: list[Token], phrases: tuple[Phrase, ...]
) -> list[tuple[int, int]]:
    """Spans of whole names among the matched tokens: consecutive, with only stop words between."""
    if not phrases:
        return []
    starting: dict[str, list[Phrase]] = {}  # first stem -> the names starting with it
    for phrase in phrases:
        starting.setdefault(phrase[0], []).append(phrase)
    stems = tuple(stem for _, _, stem in found)
    spans = []
    for i, stem in enumerate(stems):
        for phrase in starting.get(stem or "", ()):
            n = len(phrase)
            if stems[i : i + n] == phrase and all(
                _stop_words_only(body, found[i + j][1], found[i + j + 1][0]) for j in range(n - 1)
            ):
                spans.append((found[i][0], found[i + n - 1][1]))
    return spans


def _stop_words_only(body: str, start: int, end: int) -> bool:
    """No meaningful word stands between two tokens (the gap holds stop words at most)."""
    return all(_stem(word) is None for word in _TOKEN.findall(body, start, end))


def opening(body: str, skip: frozenset[str] = frozenset()) -> str:
    """The first sentences of the text (no title, no heading), escaped."""
    for line in body.split("\n"):
        line = line.strip()
        if line and line.lower() not in skip:
            return html.escape(_cut(line, SNIPPET_CHARS))
    return ""
