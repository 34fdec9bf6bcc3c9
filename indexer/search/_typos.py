"""Typo tolerance: query words the index does not know, corrected from its own vocabulary.

"conection pool" finds only what "pool" finds: no postmortem says
"conection". A word no postmortem the reader can see contains is replaced by
the closest word the index does know, as tantivy's fuzzy term queries count
closeness: the same first letter and an edit distance (a swap of two
neighbours is one edit) of 1 for words of up to SHORT_WORD letters, 2 for
longer ones; the commonest wins a tie. Words shorter than MIN_LENGTH are
never corrected ("etcd" is a name, not a typo of "etc").

The index stores stems, and a typo can change what the stemmer does
("certificat" keeps its ending, "certificate" becomes "certif"), so
candidate stems are found loosely (within STEM_SLACK more edits) and judged
by the distance between the typed word and the candidate's spelling in the
postmortems themselves, which is also what the reader is shown.

The vocabulary is read under the reader's visibility, so a correction never
comes from a postmortem the reader cannot see (an outsider gets the same
corrections as in the library without the restricted postmortems).
"""

from __future__ import annotations

from collections.abc import Callable

from indexer.search._query import ParsedQuery
from indexer.search._schema import analyze

MIN_LENGTH = 5
SHORT_WORD = 6
STEM_SLACK = 2
CANDIDATES = 8  # stems whose spellings are read, closest first

Vocabulary = Callable[[str], list[tuple[str, int]]]  # prefix -> [(stem, postmortems)]
Spellings = Callable[[str], list[str]]  # stem -> how the postmortems write it


def distance(a: str, b: str, bound: int) -> int:
    """Edit distance with adjacent swaps counting one (bound + 1 once past `bound`)."""
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > bound:
            return bound + 1
        previous2, previous = previous, current
    return previous[-1]


def _closest(word: str, stem: str, vocabulary: Vocabulary, spellings: Spellings) -> str | None:
    """The known spelling closest to `word` (stemmed: `stem`), or None."""
    bound = 1 if len(word) <= SHORT_WORD else 2
    loose = bound + STEM_SLACK
    near = []
    for term, count in vocabulary(stem[0]):
        if count > 0 and term != stem and (edits := distance(stem, term, loose)) <= loose:
            near.append((edits, -count, term))
    best: tuple[int, int, str] | None = None
    for _, minus_count, term in sorted(near)[:CANDIDATES]:
        count = -minus_count
        for spelling in spellings(term):
            edits = distance(word, spelling, bound)
            if edits <= bound and (best is None or (edits, -count, spelling) < best):
                best = (edits, -count, spelling)
    return best[2] if best else None


def correct(
    parsed: ParsedQuery, known: Callable[[str], bool], vocabulary: Vocabulary, spellings: Spellings
) -> str | None:
    """The query with its unknown words corrected, or None if there is nothing to correct.

    `known(stem)`: does a visible postmortem contain it; `vocabulary(prefix)`:
    the visible stems starting with `prefix`, with how many postmortems hold
    each; `spellings(stem)`: the words visible postmortems write for it.
    Phrases and excluded words are kept as typed.
    """
    changed = False
    words = []
    for word in parsed.words:
        stems = analyze(word)
        lower = word.lower()
        if len(stems) != 1 or len(lower) < MIN_LENGTH or not lower.isalpha() or known(stems[0]):
            words.append(word)
            continue
        better = _closest(lower, stems[0], vocabulary, spellings)
        words.append(better or word)
        changed = changed or better is not None
    if not changed:
        return None
    parts = [*words, *(f'"{phrase}"' for phrase in parsed.phrases)]
    parts += [f"-{word}" for word in parsed.excluded]
    return " ".join(parts)
