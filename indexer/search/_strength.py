"""How well a result matches: strong, partial or weak, from two signals any query has.

- `coverage`: the share of the query's own words (stemmed, stop words
  dropped) that the postmortem contains;
- `similarity`: the cosine between the query and the postmortem's closest
  passage (all-MiniLM-L6-v2), when semantic search ran.

A ranking score says which result is better than another; it says nothing
about whether any of them is good ("etcd quorum lost" in a library that never
mentions etcd still has a first result). These two signals are on a fixed
scale, so fixed thresholds mean the same for every query. The thresholds were
calibrated on ../shared/eval (benchmarks/eval_search.py prints the table;
docs/search.md has it): a strong result was relevant in most cases, a weak
one rarely.
"""

from __future__ import annotations

STRONG_SIMILARITY = 0.55
PARTIAL_SIMILARITY = 0.45
PARTIAL_COVERAGE = 0.5
LEVELS = ("strong", "partial", "weak")


def grade(coverage: float, similarity: float | None, named: bool = False) -> str:
    """strong, partial or weak (see the module docstring).

    `named`: the postmortem holds another name of what the query describes
    (its error class's alias, a synonym: _expansion.py). "rolled back" finds
    a write-up that only says "reverted": it is about the query, so at least partial.
    """
    close = similarity if similarity is not None else 0.0
    if coverage >= 1.0 or close >= STRONG_SIMILARITY:
        return "strong"
    if coverage >= PARTIAL_COVERAGE or close >= PARTIAL_SIMILARITY or named:
        return "partial"
    return "weak"


def counts(similarity: float) -> bool:
    """A semantic match close enough in meaning to count, whatever its words."""
    return grade(0.0, similarity) != "weak"


def coverage(asked: frozenset[str], present: set[str]) -> float:
    """The share of the query's words (`asked`, analysed) that a text holds (`present`)."""
    return len(asked & present) / len(asked) if asked else 0.0
