"""Query expansion: the other names of what a query describes.

An engineer searches "rolled back" and the write-up says "reverted"; another
types "oom" and the postmortem says "out of memory". Two sources of other
names are consulted, both matched on stemmed words (so "rolled back" matches
"roll back"):

- the library's taxonomy: a query that names an error class by id, title or
  alias also matches postmortems tagged with it, and the class's other names;
- `GROUPS` below, a vocabulary of common failure modes that ships with pml, so
  a library without a taxonomy (or with a sparse one) still gets synonyms.

Other names add to the full-text query at `PHRASE_BOOST` of a query word's
weight; they never replace it. Measured on ../shared/eval (docs/search.md):
hybrid nDCG@10 0.583 -> 0.612 with the vocabulary at 0.7, flat between 0.7 and
1.0. The groups are general incident vocabulary (how they were written and
measured: docs/search.md); add a library's own words as error-class aliases in
taxonomy.yaml.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from indexer.format.taxonomy import Taxonomy
from indexer.search._query import Expansion
from indexer.search._schema import analyze

MAX_PHRASES = 24  # per query: a broad query must not turn into a search for everything

# Each group: ways engineers name one failure mode or one part of a response,
# separated by "|".
GROUPS: tuple[str, ...] = (
    "connection pool exhaustion | ran out of connections | too many connections | "
    "max_connections | connection limit | pool exhausted | pool saturated | "
    "connection starvation",
    "retry storm | retries | thundering herd | retry amplification | exponential backoff | "
    "backoff | retrying clients",
    "memory leak | out of memory | oom | oom killed | memory exhaustion | heap exhausted | "
    "memory usage grew",
    "certificate expiry | expired certificate | certificate expired | tls certificate | "
    "ssl certificate | cert expired",
    "disk full | out of disk space | no space left on device | disk space | "
    "filled the disk | storage full",
    "dns | name resolution | resolver | dns records | domain name | nameservers",
    "bgp | route leak | routes withdrawn | routing | prefixes | route announcements",
    "split brain | two primaries | network partition | both nodes accepted writes | "
    "lost quorum | quorum",
    "replication lag | replica lag | stale replica | replica behind | replication delay",
    "failover | promoted replica | promotion | switchover | fail over | primary election | "
    "leader election",
    "data loss | lost data | lost writes | deleted data | data was deleted | unrecoverable data",
    "backup | restore from backup | backups failed | snapshot | point in time recovery",
    "rollback | roll back | rolled back | revert | reverted | rollback failure",
    "bad deploy | faulty deployment | defective release | code change | software update",
    "configuration change | config change | bad config | misconfiguration | config push | "
    "configuration error | configuration file",
    "global rollout | deployed globally | staged rollout | gradual rollout | canary | "
    "phased rollout | progressive rollout | blast radius",
    "feature flag | feature toggle | kill switch",
    "load balancer | health check | health checks | marked unhealthy | out of rotation",
    "cascading failure | cascade | domino effect | overload spread | knock-on effect",
    "overload | traffic spike | surge in traffic | capacity exhausted | "
    "ran out of capacity | saturated | load increase",
    "noisy neighbor | noisy neighbour | tenant isolation | multi-tenant | abusive client | "
    "resource isolation",
    "rate limiting | rate limit | throttling | throttled | quota | 429",
    "alerting | alerts | monitoring gap | missing alert | pager | paging | on-call | monitoring",
    "detection delay | time to detect | customer reports | detected by customers",
    "human error | operator error | typo | mistyped command | manual command | "
    "wrong server | fat finger",
    "runbook | playbook | manual procedure | documented procedure",
    "clock | time synchronization | ntp | clock skew | leap second | leap day | leap year | "
    "date bug | timezone",
    "race condition | concurrency bug | deadlock | lock contention | locking",
    "cache | cache invalidation | cache stampede | cold cache | cache miss | stale cache",
    "queue backlog | backlog | queue depth | consumer lag | jobs stuck | stuck jobs | queued",
    "database migration | schema migration | schema change | migration | alter table",
    "dependency failure | third party | upstream provider | vendor outage | external dependency",
    "power outage | power failure | lost power | generator | ups | datacenter power",
    "cooling | overheating | temperature",
    "network outage | packet loss | network congestion | link failure | fiber cut",
    "hardware failure | disk failure | failed drive | faulty hardware | server failure",
    "security incident | breach | leaked credentials | unauthorized access | data leak | exposed",
    "authentication | login failures | auth service | single sign-on | tokens | credentials",
    "expired credentials | expired token | expired key | key rotation | secret rotation",
    "storage outage | object storage | s3 | block storage | storage service",
    "kubernetes | pods | containers | orchestrator | scheduler",
    "autoscaling | auto scaling | scale up | scale out | capacity planning | insufficient capacity",
    "slow queries | query performance | expensive query | database load | full table scan | "
    "missing index",
    "thread pool exhaustion | threads exhausted | worker exhaustion | blocked threads | "
    "ran out of workers",
    "timeouts | timed out | request timeout | latency spike | high latency | slow responses",
    "single point of failure | no redundancy | lack of redundancy | spof",
    "region outage | availability zone | single region | multi-region | regional failure",
    "control plane | management plane | api server | control-plane",
    "regex | regular expression | catastrophic backtracking | cpu exhaustion | cpu spike | "
    "100% cpu",
    "integer overflow | overflow | limit exceeded | hard limit | maximum size | 32-bit",
    "corrupted data | data corruption | corruption | inconsistent data",
    "load shedding | circuit breaker | graceful degradation | fallback",
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
    groups, starts = _builtin()
    candidates = sorted(set().union(*(starts.get(word, set()) for word in words)))
    for n in candidates:  # only groups with a name starting with one of the query's words
        others = _others(words, groups[n])
        if others is not None:
            phrases.update(dict.fromkeys(others))
    return Expansion(tuple(classes), tuple(list(phrases)[:MAX_PHRASES]))
