"""Query expansion: the other names of what a query says.

An engineer types "oom" and the postmortem says "out of memory"; another
writes "rolled back" and the write-up says "reverted". Two sources of other
names are consulted, both matched on stemmed words (so "rolled back" matches
"roll back"):

- the library's taxonomy: a query that names an error class by id, title or
  alias also matches postmortems tagged with it, and the class's other names;
- `GROUPS` below, general vocabulary that ships with pml, so a library
  without a taxonomy still gets the obvious equivalents.

The rule for `GROUPS` (docs/search.md): only names that mean the same thing
in any postmortem, as a reliability engineer would list them without having
seen any query: abbreviations and what they stand for, spelling variants,
and phrasings of one act or state that the stemmer cannot join. Never
related concepts, causes or symptoms ("split brain" is not "network
partition"): those are judgments about which failures go together, and
writing them down after reading evaluation queries tuned pml to those
queries. A library's own words belong in taxonomy.yaml as aliases.

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

# Each group: names of one thing, separated by "|".
GROUPS: tuple[str, ...] = (
    "oom | out of memory | oomkilled | oom killed",
    "dns | domain name system",
    "tls | ssl",
    "cert | certificate",
    "k8s | kubernetes",
    "db | database",
    "config | configuration",
    "misconfiguration | misconfigured",
    "ntp | network time protocol",
    "bgp | border gateway protocol",
    "ddos | distributed denial of service",
    "dos | denial of service",
    "cpu | processor",
    "az | availability zone",
    "lb | load balancer",
    "cdn | content delivery network",
    "ha | high availability",
    "spof | single point of failure",
    "rca | root cause analysis",
    "sla | service level agreement",
    "slo | service level objective",
    "ttl | time to live",
    "acl | access control list",
    "api | application programming interface",
    "vm | virtual machine",
    "dc | datacenter | data center | datacentre",
    "noisy neighbor | noisy neighbour",
    "outage | downtime",
    "rollback | roll back | rolled back | revert | reverted",
    "failover | fail over | failed over",
    "deploy | deployment | release | rollout | roll out | rolled out",
    "expired | expiry | expiration",
    "timeout | timed out | time out",
    "disk full | no space left on device | out of disk space",
    "leap second | leap-second",
    "split brain | split-brain",
    "race condition | data race",
    "typo | mistyped",
)

Words = tuple[str, ...]


@lru_cache(maxsize=4096)
def _words(text: str) -> Words:
    return tuple(analyze(text))


@lru_cache(maxsize=1)
def _builtin() -> tuple[tuple[tuple[tuple[str, Words], ...], ...], dict[str, set[int]]]:
    """The groups as analysed words, and which groups a word can start a name of."""
    groups = tuple(
        tuple((name, _words(name)) for name in (part.strip() for part in group.split("|")))
        for group in GROUPS
    )
    starts: dict[str, set[int]] = {}
    for n, group in enumerate(groups):
        for _, words in group:
            if words:
                starts.setdefault(words[0], set()).add(n)
    return groups, starts


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


def expand(vocabulary: Taxonomy, query: str, general: bool = True) -> Expansion:
    """Error classes the query names, and other names of what it describes.

    `general`: also consult the built-in `GROUPS` (the taxonomy always counts).
    """
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
    if not general:
        return Expansion(tuple(classes), tuple(list(phrases)[:MAX_PHRASES]))
    groups, starts = _builtin()
    candidates = sorted(set().union(*(starts.get(word, set()) for word in words)))
    for n in candidates:  # only groups with a name starting with one of the query's words
        others = _others(words, groups[n])
        if others is not None:
            phrases.update(dict.fromkeys(others))
    return Expansion(tuple(classes), tuple(list(phrases)[:MAX_PHRASES]))
