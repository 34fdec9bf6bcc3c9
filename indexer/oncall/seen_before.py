"""Seen before: the postmortems an on-call engineer should read about the alert in front of them.

    said = reading.read("alertmanager", body)
    answer = seen_before(library, said, groups=frozenset())
    answer.matched_well, [item.id for item in answer.items]

Each visible postmortem near the alert is scored by what it shares with it,
and every share is a reason a person can check:

- the same service (resolved through taxonomy aliases, name parts and team
  ownership: `indexer.oncall.services`);
- the same failure mode: error classes the alert's words name through the
  taxonomy's ids, titles and aliases (`PgbouncerPoolExhausted` names
  connection-pool-exhaustion through "pool exhausted"), an explicit
  `error_class` label or tag, or the classes earlier incidents that read
  like this alert were given;
- the alert itself: the postmortem's `detection.alert` is this alert's name;
- the alert's words in a passage (the library's own search, as the reader
  sees the library: restricted postmortems of other audiences are never
  searched, so an outsider's answer is the one a library without them gives);
- a linked earlier incident: a stored incident of the service whose title
  reads like the alert and whose postmortem this is;
- a near-miss postmortem of the same service and failure mode.

The weights and the two thresholds (`Weights`) were chosen on the dev set
(benchmarks/eval_seen_before.py, docs/oncall.md). Only strong and partial
items are listed; when there is none, `matched_well` is false and the list
is empty rather than padded with whatever ranked first.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from indexer.db import catalog, store
from indexer.db.models import IncidentRow, PostmortemLink, PostmortemRow
from indexer.format.taxonomy import Taxonomy, name_key
from indexer.incidents import query
from indexer.library import Library
from indexer.oncall import reading, services
from indexer.oncall.reading import AlertSaid, words_of_name
from indexer.search import Expansion, Searcher, SearchQueryError, SemanticUnavailable, analyze

SEARCHED = 20  # hits read from each search
TOP_RANKS = 10
# The failure mode of the alert's closest write-ups: a class at least AGREE of the
# first CLOSEST strong or partial text hits share (when the alert's words name none).
CLOSEST, AGREE = 3, 2
INCIDENTS_READ = 2000  # stored incidents of the service compared with the alert
_TAGS = re.compile(r"<[^>]+>")
_SENTENCES = re.compile(r"[.;!?\n]+\s|\n")


@dataclass(frozen=True)
class Weights:
    """What each shared trait adds to a postmortem's score, and the two thresholds."""

    service: float = 0.7
    team: float = 0.2
    failure_mode: float = 0.8
    detected_by: float = 1.5
    text_strong: float = 0.6
    text_partial: float = 0.3
    text_weak: float = 0.2
    text_rank: float = 0.3  # more for the search's first hits, down to nothing at TOP_RANKS
    inferred_mode: float = 0.3
    incident: float = 0.8
    near_miss: float = 0.2
    strong: float = 1.6
    partial: float = 0.9


DEFAULT_WEIGHTS = Weights()


@dataclass
class Item:
    id: str
    title: str
    date: str
    score: float = 0.0
    strength: str = "weak"
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "date": self.date,
            "score": round(self.score, 3),
            "strength": self.strength,
            "reasons": list(self.reasons),
        }


@dataclass
class Answer:
    source: str
    service: str | None
    query: str
    items: list[Item]
    service_reason: str | None = None
    failure_modes: list[str] = field(default_factory=list)
    alert: str = ""

    @property
    def matched_well(self) -> bool:
        return bool(self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "service": self.service,
            "service_reason": self.service_reason,
            "alert": self.alert,
            "query": self.query,
            "failure_modes": self.failure_modes,
            "matched_well": self.matched_well,
            "items": [item.as_dict() for item in self.items],
        }


@dataclass(frozen=True)
class _Postmortem:
    id: str
    title: str
    date: str
    type: str | None
    detection_alert: str | None
    services: frozenset[str]
    classes: frozenset[str]


@dataclass
class _Candidate:
    postmortem: _Postmortem
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)

    def add(self, weight: float, reason: str) -> None:
        self.score += weight
        self.reasons.append(reason)


@dataclass
class Evidence:
    """Everything about an alert that ranking weighs; gathered once, ranked under any weights."""

    said: AlertSaid
    guess: services.ServiceGuess
    modes: dict[str, str]
    hits: dict[str, _Hit]
    earlier: list[_Earlier]
    postmortems: list[_Postmortem]
    vocabulary: Taxonomy


def seen_before(
    library: Library,
    said: AlertSaid,
    groups: frozenset[str],
    *,
    limit: int = 5,
    weights: Weights = DEFAULT_WEIGHTS,
) -> Answer:
    """The postmortems `groups` may read that this alert has been seen in before, best first."""
    return rank(gather(library, said, groups), weights, limit)


def gather(library: Library, said: AlertSaid, groups: frozenset[str]) -> Evidence:
    """What the library holds about the alert, as `groups` may see it."""
    vocabulary = library.taxonomy
    guess = services.resolve(vocabulary, said.names, said.teams)
    searcher = library.searcher_for(groups)
    hits = _text_hits(searcher, groups, [words_of_name(said.name), said.text])
    with store.session(library.engine) as db:
        earlier = _earlier_incidents(db, said, guess, groups)
        modes = _failure_modes(searcher, said, earlier)
        found = _candidates(db, groups, guess, modes, said, hits, earlier)
    return Evidence(said, guess, modes, hits, earlier, found, vocabulary)


def rank(evidence: Evidence, weights: Weights = DEFAULT_WEIGHTS, limit: int = 5) -> Answer:
    """Score every candidate under `weights`; only strong and partial ones are listed."""
    candidates = [_Candidate(postmortem) for postmortem in evidence.postmortems]
    inferred = _inferred_modes(evidence)
    for candidate in candidates:
        _score(candidate, evidence, weights)
        shared = sorted(candidate.postmortem.classes & inferred)
        if shared:
            titles = ", ".join(_title(evidence.vocabulary, m) for m in shared)
            candidate.add(
                weights.inferred_mode, f"the failure mode of the closest write-ups: {titles}"
            )
    said, guess = evidence.said, evidence.guess
    return Answer(
        source=said.source,
        service=guess.service,
        query=said.text,
        items=_items(candidates, weights)[:limit],
        service_reason=guess.reason(),
        failure_modes=sorted(evidence.modes),
        alert=said.name,
    )


def _inferred_modes(evidence: Evidence) -> set[str]:
    """Classes the alert's closest write-ups agree on, when its words name no class."""
    if evidence.modes:
        return set()
    classes = {p.id: p.classes for p in evidence.postmortems}
    good = [(hit.rank, pid) for pid, hit in evidence.hits.items() if hit.strength != "weak"]
    closest = [classes.get(pid, frozenset()) for _, pid in sorted(good)[:CLOSEST]]
    votes = Counter(mode for found in closest for mode in found)
    return {mode for mode, count in votes.items() if count >= AGREE}


@dataclass(frozen=True)
class _Earlier:
    source_id: str
    title: str
    day: str
    postmortem: str | None
    error_class: str | None


@dataclass(frozen=True)
class _Hit:
    rank: int
    strength: str
    section: str | None
    snippet: str


def _text_hits(searcher: Searcher, groups: frozenset[str], texts: list[str]) -> dict[str, _Hit]:
    """The best search hit per postmortem over the alert's name and its full text."""
    best: dict[str, _Hit] = {}
    order = {"strong": 0, "partial": 1, "weak": 2}
    for text in dict.fromkeys(t for t in texts if t.strip()):
        try:
            results = searcher.search(text, limit=SEARCHED, groups=groups, as_typed=True)
        except (SearchQueryError, SemanticUnavailable):
            continue
        for rank, hit in enumerate(results.results):
            seen = _Hit(rank, hit.strength, hit.section, _plain(hit.snippet))
            known = best.get(hit.id)
            if known is None or (order[seen.strength], seen.rank) < (
                order[known.strength],
                known.rank,
            ):
                best[hit.id] = seen
    return best


def _plain(snippet: str) -> str:
    text = _TAGS.sub("", snippet)
    return " ".join(text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").split())


def _earlier_incidents(
    db: Session, said: AlertSaid, guess: services.ServiceGuess, groups: frozenset[str]
) -> list[_Earlier]:
    """Stored incidents of the alert's service whose titles read like the alert."""
    if guess.service is None:
        return []
    wanted = set(analyze(words_of_name(said.name)))
    if not wanted:
        return []
    rows = db.exec(
        select(IncidentRow)
        .where(col(IncidentRow.service) == guess.service)
        .order_by(col(IncidentRow.started_at).desc())
        .limit(INCIDENTS_READ)
    ).all()
    visible = _visible_ids(db, groups, [r.postmortem_id for r in rows if r.postmortem_id])
    found = []
    for row in rows:
        if said.source_id and row.source_id == said.source_id and row.source == said.source:
            continue  # the incident itself is not a precedent of itself
        title = set(analyze(words_of_name(row.title)))
        if not title or len(wanted & title) / len(wanted | title) < 0.5:
            continue
        postmortem = row.postmortem_id if row.postmortem_id in visible else None
        started = store.as_utc(row.started_at)
        found.append(
            _Earlier(
                row.source_id,
                row.title,
                started.date().isoformat() if started else "",
                postmortem,
                row.error_class,  # the source's own class: never taken from a postmortem
            )
        )
    return found


def _visible_ids(db: Session, groups: frozenset[str], ids: list[str]) -> set[str]:
    if not ids:
        return set()
    query = select(PostmortemRow.id).where(col(PostmortemRow.id).in_(ids), catalog.visible(groups))
    return set(db.exec(query).all())


def _failure_modes(searcher: Searcher, said: AlertSaid, earlier: list[_Earlier]) -> dict[str, str]:
    """Error classes the alert names, each with why: its words, a label, earlier incidents."""
    vocabulary = searcher.vocabulary
    modes: dict[str, str] = {}
    if said.error_class and said.error_class in vocabulary.error_classes:
        modes[said.error_class] = f"the alert is tagged {said.error_class}"
    for found in named_classes(vocabulary, said.text, searcher.expansion):
        modes.setdefault(found, f"the alert's words name {_title(vocabulary, found)}")
    votes = Counter(e.error_class for e in earlier if e.error_class in vocabulary.error_classes)
    if votes:
        common, count = votes.most_common(1)[0]
        if common and count * 2 > len(earlier):  # most incidents that read like it agree
            modes.setdefault(
                common, f"{count} earlier incident{'s' if count > 1 else ''} like it were {common}"
            )
    return modes


def named_classes(
    vocabulary: Taxonomy, text: str, expansion: Callable[[str], Expansion] | None = None
) -> list[str]:
    """Error classes one sentence of `text` names by all the words of an id, title or alias.

    Word order is free within a sentence (an alert says "certificate expiring",
    the alias "expired certificate"), but the words must share one sentence, so
    a long description cannot name a class by scattering its words. With
    `expansion` (the searcher's), a sentence also holds the words of the other
    names of what it says ("cert expiry" holds "certificate" and "expired").
    """
    sentences = []
    for part in _SENTENCES.split(text):
        if not part.strip():
            continue
        words = set(analyze(part))
        if expansion is not None:
            for other in expansion(part).phrases:
                words.update(analyze(other))
        sentences.append(words)
    found = []
    for term in vocabulary.error_classes.values():
        names = [term.id.replace("-", " "), term.title, *term.aliases]
        wanted = [set(analyze(name)) for name in names if name]
        if any(words and words <= sentence for words in wanted for sentence in sentences):
            found.append(term.id)
    return found


def _title(vocabulary: Taxonomy, error_class: str) -> str:
    term = vocabulary.error_classes.get(error_class)
    return (term.title if term and term.title else error_class).lower()


def _candidates(
    db: Session,
    groups: frozenset[str],
    guess: services.ServiceGuess,
    modes: dict[str, str],
    said: AlertSaid,
    hits: dict[str, _Hit],
    earlier: list[_Earlier],
) -> list[_Postmortem]:
    """The visible postmortems that share anything with the alert, with their links."""
    ids: set[str] = set(hits) | {e.postmortem for e in earlier if e.postmortem}
    served = {guess.service} if guess.service else set(guess.team_services)
    wanted = [("service", s) for s in served] + [("error_class", c) for c in modes]
    for kind, value in wanted:
        linked = select(PostmortemLink.postmortem_id).where(
            col(PostmortemLink.kind) == kind, col(PostmortemLink.value) == value
        )
        ids.update(db.exec(linked).all())
    if said.name:
        named = select(PostmortemRow.id).where(col(PostmortemRow.detection_alert) == said.name)
        ids.update(db.exec(named).all())
    if said.postmortem:
        ids.add(said.postmortem)
    if not ids:
        return []
    rows = db.exec(
        select(PostmortemRow).where(col(PostmortemRow.id).in_(sorted(ids)), catalog.visible(groups))
    ).all()
    links = store.links_for(db, [row.id for row in rows])
    return [
        _Postmortem(
            row.id,
            row.title,
            row.date.isoformat(),
            row.type,
            row.detection_alert,
            frozenset(links.get(row.id, {}).get("service", [])),
            frozenset(links.get(row.id, {}).get("error_class", [])),
        )
        for row in rows
    ]


def _score(candidate: _Candidate, evidence: Evidence, weights: Weights) -> None:
    said, guess, modes = evidence.said, evidence.guess, evidence.modes
    postmortem = candidate.postmortem
    if said.postmortem and postmortem.id == said.postmortem:
        candidate.add(weights.detected_by + weights.strong, "the incident links this postmortem")
    if guess.service and guess.service in postmortem.services:
        candidate.add(weights.service, f"same service: {guess.service} ({guess.reason()})")
    elif postmortem.services & set(guess.team_services):
        shared = ", ".join(sorted(postmortem.services & set(guess.team_services)))
        candidate.add(weights.team, f"a service of the alert's team: {shared}")
    shared_modes = sorted(postmortem.classes & set(modes))
    if shared_modes:
        reason = "; ".join(f"{_title(evidence.vocabulary, m)} ({modes[m]})" for m in shared_modes)
        candidate.add(weights.failure_mode, f"same failure mode: {reason}")
    alert = postmortem.detection_alert
    if said.name and alert and name_key(alert) == name_key(said.name):
        candidate.add(weights.detected_by, f"detected by the same alert, {alert}")
    hit = evidence.hits.get(postmortem.id)
    if hit is not None:
        _text_reason(candidate, hit, weights)
    linked = [e for e in evidence.earlier if e.postmortem == postmortem.id]
    if linked:
        first = linked[0]
        candidate.add(
            weights.incident,
            f"earlier incident {first.source_id} ({first.day}, {first.title!r}) "
            "has this postmortem",
        )
    if postmortem.type == "near_miss" and guess.service in postmortem.services and shared_modes:
        candidate.add(weights.near_miss, "a near-miss of the same kind on this service")


def _text_reason(candidate: _Candidate, hit: _Hit, weights: Weights) -> None:
    weight = {
        "strong": weights.text_strong,
        "partial": weights.text_partial,
        "weak": weights.text_weak,
    }[hit.strength]
    weight *= 1.0 / (1.0 + hit.rank / SEARCHED)  # the search's own order breaks ties
    candidate.score += weights.text_rank * max(0.0, 1.0 - hit.rank / TOP_RANKS)
    where = f" in {hit.section!r}" if hit.section else ""
    if hit.strength == "weak":
        candidate.score += weight  # a faint match orders items but is no reason to read one
        return
    candidate.add(weight, f"the alert's words{where}: {hit.snippet[:200]}")


def _items(candidates: list[_Candidate], weights: Weights) -> list[Item]:
    items = []
    for candidate in candidates:
        if candidate.score < weights.partial:
            continue
        strength = "strong" if candidate.score >= weights.strong else "partial"
        found = candidate.postmortem
        items.append(
            Item(found.id, found.title, found.date, candidate.score, strength, candidate.reasons)
        )
    # Best first; among equals the most recent, which is likeliest to hold today's fix.
    items.sort(key=lambda item: (-item.score, _negated(item.date)))
    return items


def _negated(day: str) -> tuple[int, ...]:
    return tuple(-int(part) for part in day.split("-") if part.isdigit())


def for_incident(
    library: Library, source: str, source_id: str, groups: frozenset[str], limit: int = 5
) -> tuple[dict[str, Any], Answer] | None:
    """A stored incident as `groups` may see it, with its precedents; None if there is none."""
    with store.session(library.engine) as db:
        incident = query.incident(db, groups, source, source_id)
        said = reading.stored(db, source, source_id) if incident is not None else None
    if incident is None or said is None:
        return None
    return incident, seen_before(library, said, groups, limit=limit)
