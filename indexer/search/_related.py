"""Related postmortems, earlier and later (for guild presenters), and suspected duplicates.

Relatedness mixes meaning and words: the cosine similarity of the two
postmortems' document vectors (mean of their passage vectors), plus
LEXICAL_WEIGHT times the cosine of their tf-idf word vectors, plus a bonus
for a shared error class, a smaller one for a shared service, and one for an
explicit `related:` link. The words' idf is computed among the candidates
themselves (the target and its CANDIDATES nearest visible postmortems), so
nothing about postmortems the reader cannot see enters a score: an
outsider's list is the one the library without restricted postmortems
gives. Each result says why (the shared terms, the pair of passages closest
in meaning), whether it is earlier or later ("this happened again"), and how
strong the relation is. The settings are `Tuning`, chosen by 5-fold
cross-validation (benchmarks/eval_related.py). Lists for readers who see only
shared postmortems are stored at index time (`_neighbours`); `compute` ranks
per request. See docs/search.md.

Duplicates are pairs whose document vectors are nearly identical; the
threshold was chosen by measuring the similarity of known-distinct pairs
(the sample library and the public corpus) against rewritten copies.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import select as sql_select
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from indexer.db import catalog, store
from indexer.db.models import ChunkRow, PostmortemLink, PostmortemRow
from indexer.format.postmortem import Finding, Postmortem
from indexer.search import _passages
from indexer.search._embeddings import Embedder, normalise
from indexer.search._schema import analyze
from indexer.search._semantic import Passage, SemanticIndex

ERROR_CLASS_BONUS = 0.15
SERVICE_BONUS = 0.05
LINK_BONUS = 0.10
# Measured by benchmarks/eval_related.py: precision@5 on the public corpus went
# from 0.408 (document vectors alone) to 0.450 with words at 1.5; under 5-fold
# cross-validation the words are the one knob that earns its place.
LEXICAL_WEIGHT = 1.5
CANDIDATES = 50
SHARED_CLASS_CANDIDATES = 300
# Analysed words per (postmortem, content hash): a changed postmortem gets a new key.
WORD_CACHE = 20_000
_WORDS: dict[tuple[str, str], Terms] = {}
_TERM_IDS: dict[str, int] = {}  # every analysed word seen, numbered (a vocabulary)
_TERM_LOCK = threading.Lock()  # two requests must never give two words one number
# Score at which a relation is strong / partial (below: weak). Calibrated with
# benchmarks/eval_related.py (docs/search.md).
STRONG_SCORE = 1.0
PARTIAL_SCORE = 0.6
PASSAGE_CHARS = 320
# Cosine of document vectors (all-MiniLM-L6-v2) at or above which two postmortems
# are flagged as possible duplicates. Measured by benchmarks/duplicate_threshold.py
# (docs/search.md): distinct postmortems reach 0.941 in the sample library (a
# recurrence of the same failure on the same service) and 0.891 in the public
# corpus; the same incident filed again by another author (new title, sections
# reordered or dropped) scores 0.95 or more in 43 of 44 cases.
DUPLICATE_THRESHOLD = 0.95


@dataclass
class Summary:
    id: str
    title: str
    date: str
    services: list[str] = field(default_factory=list)
    error_classes: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    related: list[str] = field(default_factory=list)
    content_hash: str = ""


def _summaries(
    engine: Engine, groups: frozenset[str], ids: Collection[str] | None = None
) -> dict[str, Summary]:
    """The postmortems the reader may see (all, or those of `ids`), with their vocabulary."""
    # Only the columns a summary needs: whole rows carry bodies and front matter.
    rows_query = sql_select(
        col(PostmortemRow.id),
        col(PostmortemRow.title),
        col(PostmortemRow.date),
        col(PostmortemRow.duplicate_of),
        col(PostmortemRow.content_hash),
    ).where(catalog.visible(groups))
    links_query = select(
        PostmortemLink.postmortem_id, PostmortemLink.kind, PostmortemLink.value
    ).where(col(PostmortemLink.kind).in_(["service", "error_class", "related"]))
    if ids is not None:
        wanted = sorted(ids)
        rows_query = rows_query.where(col(PostmortemRow.id).in_(wanted))
        links_query = links_query.where(col(PostmortemLink.postmortem_id).in_(wanted))
    with store.session(engine) as db:
        result = {
            identifier: Summary(
                identifier,
                title,
                day.isoformat(),
                duplicate_of=duplicate_of,
                content_hash=content_hash,
            )
            for identifier, title, day, duplicate_of, content_hash in db.execute(rows_query)
        }
        for identifier, kind, value in db.exec(links_query):
            summary = result.get(identifier)
            if summary is not None:
                target = {"service": summary.services, "error_class": summary.error_classes}
                target.get(kind, summary.related).append(value)
    return result


@dataclass(frozen=True)
class Tuning:
    """How relatedness is scored; the shipped values were chosen by 5-fold
    cross-validation in benchmarks/eval_related.py (docs/search.md).

    Meaning is the cosine of the two postmortems' document vectors. Tried under
    the same cross-validation and removed in issue 26, because their gain's 90%
    interval included zero: the best pair of passages or each passage's best
    match averaged instead of document vectors, reciprocal ranks instead of
    the weighted sum, adjacent word pairs or only the title, impact summary
    and trigger as the words, and a bonus for shared tags.
    """

    lexical_weight: float = LEXICAL_WEIGHT
    candidates: int = CANDIDATES


class Scored(NamedTuple):
    score: float
    other: Summary
    shared_classes: list[str]
    shared_services: list[str]
    linked: bool
    # (meaning, words, bonus) before fusion: what benchmarks/eval_related.py re-weighs.
    parts: tuple[float, float, float] = (0.0, 0.0, 0.0)


def ranked(
    engine: Engine,
    semantic: SemanticIndex,
    target: Summary,
    *,
    groups: frozenset[str] = frozenset(),
    hidden: set[str] | None = None,
    tuning: Tuning = Tuning(),
    visible: Visible | None = None,
) -> tuple[list[Scored], float]:
    """Every candidate scored against `target`, best first, and the candidate cutoff.

    The cutoff is the document cosine of the last candidate taken by vector:
    a postmortem closer than that to the target would be a candidate too
    (what the stored lists use to find the lists a change may enter).
    `visible` (what the reader may see, loaded once) saves the per-list queries.
    """
    hidden = _hidden(engine, groups) if hidden is None else hidden
    ids, position, scores = _similarities(semantic, target.id)
    order = np.argsort(-scores, kind="stable")[: tuning.candidates + 1 + len(hidden)]
    top = [int(n) for n in order if ids[n] not in hidden][: tuning.candidates + 1]
    nearest = [ids[n] for n in top]
    cutoff = float(scores[top[-1]]) if len(top) > tuning.candidates else -1.0
    if visible is None:
        candidates = set(nearest) | _vocabulary_candidates(engine, target, hidden)
        others = _summaries(engine, groups, candidates)
    else:
        candidates = set(nearest) | visible.vocabulary_candidates(target)
        others = {i: visible.summaries[i] for i in candidates if i in visible.summaries}
    others.pop(target.id, None)
    versions = {i: o.content_hash for i, o in others.items()}
    versions[target.id] = target.content_hash
    words = _word_similarities(engine, target.id, versions)
    meaning = {i: float(scores[position[i]]) for i in others if i in position}
    fused = fuse(meaning, words, tuning)
    scored = []
    for other in others.values():
        shared_classes = sorted(set(target.error_classes) & set(other.error_classes))
        shared_services = sorted(set(target.services) & set(other.services))
        linked = other.id in target.related or target.id in other.related
        bonus = ERROR_CLASS_BONUS * bool(shared_classes) + SERVICE_BONUS * bool(shared_services)
        bonus += LINK_BONUS * linked
        score = fused.get(other.id, 0.0) + bonus
        parts = (meaning.get(other.id, 0.0), words.get(other.id, 0.0), bonus)
        scored.append(Scored(score, other, shared_classes, shared_services, linked, parts))
    scored.sort(key=lambda item: (-item.score, item.other.date, item.other.id))
    return scored, cutoff


def target_summary(
    engine: Engine, postmortem_id: str, groups: frozenset[str] = frozenset()
) -> Summary | None:
    """The postmortem with its vocabulary, if the reader may see it."""
    return _summaries(engine, groups, [postmortem_id]).get(postmortem_id)


def compute(
    engine: Engine,
    semantic: SemanticIndex,
    postmortem_id: str,
    *,
    limit: int = 5,
    groups: frozenset[str] = frozenset(),
    past_only: bool = False,
) -> list[dict[str, Any]] | None:
    """The related list computed now (see `related` for the stored one)."""
    target = target_summary(engine, postmortem_id, groups)
    if target is None:
        return None
    scored, _ = ranked(engine, semantic, target, groups=groups)
    if past_only:
        scored = [item for item in scored if item.other.date <= target.date]
    return [
        describe(target, item, closest_passage(semantic, postmortem_id, item.other.id))
        for item in scored[:limit]
    ]


def fuse(meaning: dict[str, float], words: dict[str, float], tuning: Tuning) -> dict[str, float]:
    """Meaning and words in one score per postmortem: meaning + weight x words."""
    return {
        identifier: meaning.get(identifier, 0.0)
        + tuning.lexical_weight * words.get(identifier, 0.0)
        for identifier in meaning.keys() | words.keys()
    }


def strength(score: float) -> str:
    """strong, partial or weak (thresholds from benchmarks/eval_related.py)."""
    if score >= STRONG_SCORE:
        return "strong"
    return "partial" if score >= PARTIAL_SCORE else "weak"


def _hidden(engine: Engine, groups: frozenset[str]) -> set[str]:
    """Postmortems the reader may not see (few: the restricted ones outside their groups)."""
    query = select(PostmortemRow.id).where(~catalog.visible(groups))
    with store.session(engine) as db:
        return set(db.exec(query))


class Terms(NamedTuple):
    """A postmortem's distinct words (numbered in _TERM_IDS) and how often each occurs."""

    ids: npt.NDArray[np.int64]
    counts: npt.NDArray[np.float64]


def _terms(words: list[str]) -> Terms:
    counted = Counter(words)
    with _TERM_LOCK:
        ids = [_TERM_IDS.setdefault(word, len(_TERM_IDS)) for word in counted]
    return Terms(np.asarray(ids, np.int64), np.asarray(list(counted.values()), np.float64))


def _word_counts(engine: Engine, versions: dict[str, str]) -> dict[str, Terms]:
    """The analysed words of the embedded passages of each postmortem (id -> content
    hash given), cached."""
    counts = {i: _WORDS[(i, v)] for i, v in versions.items() if (i, v) in _WORDS}
    missing = sorted(set(versions) - set(counts))
    if missing:
        texts: dict[str, list[str]] = {}
        query = select(ChunkRow.postmortem_id, ChunkRow.text).where(
            col(ChunkRow.postmortem_id).in_(missing)
        )
        with store.session(engine) as db:
            for identifier, text in db.exec(query):
                texts.setdefault(identifier, []).append(text)
        for identifier, parts in texts.items():
            words = analyze(" ".join(parts))
            counts[identifier] = _WORDS[(identifier, versions[identifier])] = _terms(words)
        while len(_WORDS) > WORD_CACHE:
            _WORDS.pop(next(iter(_WORDS)), None)
    return counts


def _word_similarities(
    engine: Engine, postmortem_id: str, versions: dict[str, str]
) -> dict[str, float]:
    """Cosine of tf-idf vectors of the postmortems' words, idf taken among these postmortems."""
    counts = _word_counts(engine, versions)
    if postmortem_id not in counts:
        return {}
    ids = [postmortem_id] + [i for i in versions if i != postmortem_id and i in counts]
    # A dense matrix over the words these postmortems use (a few thousand columns).
    terms, columns = np.unique(np.concatenate([counts[i].ids for i in ids]), return_inverse=True)
    rows = np.repeat(np.arange(len(ids)), [len(counts[i].ids) for i in ids])
    weights = np.zeros((len(ids), len(terms)), np.float64)
    weights[rows, columns] = 1 + np.log(np.concatenate([counts[i].counts for i in ids]))
    found_in = np.count_nonzero(weights, axis=0)
    weights *= np.log((len(ids) + 1) / found_in)
    norms = np.linalg.norm(weights, axis=1)
    weights /= np.where(norms > 0, norms, 1.0)[:, None]
    scores = weights[1:] @ weights[0]
    return dict(zip(ids[1:], scores.tolist(), strict=True))


def _vocabulary_candidates(engine: Engine, target: Summary, hidden: set[str]) -> set[str]:
    """Visible postmortems linked to the target, or sharing an error class (the most recent)."""
    shared = (
        select(col(PostmortemLink.postmortem_id), col(PostmortemRow.date))
        .distinct()
        .join(PostmortemRow, col(PostmortemRow.id) == col(PostmortemLink.postmortem_id))
        .where(col(PostmortemLink.kind) == "error_class")
        .where(col(PostmortemLink.value).in_(target.error_classes or [""]))
        .where(col(PostmortemRow.id).not_in(sorted(hidden)))
        .order_by(col(PostmortemRow.date).desc(), col(PostmortemLink.postmortem_id))
        .limit(SHARED_CLASS_CANDIDATES)
    )
    linking = select(PostmortemLink.postmortem_id).where(
        col(PostmortemLink.kind) == "related", col(PostmortemLink.value) == target.id
    )
    with store.session(engine) as db:
        sharing = {identifier for identifier, _ in db.exec(shared)}
        return set(target.related) | sharing | set(db.exec(linking))


@dataclass
class Visible:
    """Every postmortem one reader may see, summarised once: for computing many lists
    (the stored ones) without the per-list queries. Same candidates as the queries."""

    summaries: dict[str, Summary]
    by_class: dict[str, list[str]] = field(default_factory=dict)  # newest first, then id
    linking: dict[str, set[str]] = field(default_factory=dict)  # id -> ids that link to it

    @classmethod
    def load(cls, engine: Engine, groups: frozenset[str]) -> Visible:
        found = cls(_summaries(engine, groups))
        newest = sorted(found.summaries.values(), key=lambda s: s.id)
        newest.sort(key=lambda s: s.date, reverse=True)
        for summary in newest:
            for error_class in dict.fromkeys(summary.error_classes):
                found.by_class.setdefault(error_class, []).append(summary.id)
            for other in summary.related:
                found.linking.setdefault(other, set()).add(summary.id)
        return found

    def vocabulary_candidates(self, target: Summary) -> set[str]:
        """As `_vocabulary_candidates`, from memory."""
        sharing = {i for c in target.error_classes for i in self.by_class.get(c, [])}
        newest = sorted(sharing, key=lambda i: i)
        newest.sort(key=lambda i: self.summaries[i].date, reverse=True)
        found = set(newest[:SHARED_CLASS_CANDIDATES]) | self.linking.get(target.id, set())
        return found | set(target.related)


def _similarities(
    semantic: SemanticIndex, postmortem_id: str
) -> tuple[list[str], dict[str, int], npt.NDArray[np.float32]]:
    """(ids, id -> row, cosine of each one's document vector to this one's); empty if
    not embedded."""
    vectors = semantic.vectors
    if vectors is None or postmortem_id not in vectors.position:
        return [], {}, np.zeros(0, np.float32)
    documents = vectors.document_vectors()
    scores: npt.NDArray[np.float32] = documents @ documents[vectors.position[postmortem_id]]
    return vectors.ids, vectors.position, scores


def describe(target: Summary, item: Scored, passage: dict[str, Any] | None) -> dict[str, Any]:
    """One related item as the API, the page and the pack show it."""
    other = item.other
    reasons: list[dict[str, Any]] = []
    reasons += [{"kind": "error_class", "value": value} for value in item.shared_classes]
    reasons += [{"kind": "service", "value": value} for value in item.shared_services]
    if item.linked:
        reasons.append({"kind": "linked", "value": "listed under related"})
    if passage is not None:
        reasons.append(passage)
    return {
        "id": other.id,
        "title": other.title,
        "date": other.date,
        "when": "later" if other.date > target.date else "earlier",
        "services": other.services,
        "error_classes": other.error_classes,
        "score": round(item.score, 4),
        "strength": strength(item.score),
        "reasons": reasons,
    }


def closest_pair(semantic: SemanticIndex, source: str, other: str) -> tuple[int, float] | None:
    """(ordinal, cosine) of the passage of `other` closest to any passage of `source`."""
    vectors = semantic.vectors
    if vectors is None:
        return None
    _, mine = vectors.vectors_of(source)
    ordinals, theirs = vectors.vectors_of(other)
    if not len(mine) or not len(theirs):
        return None
    best = (mine @ theirs.T).max(axis=0)
    n = int(np.argmax(best))
    return int(ordinals[n]), float(best[n])


def closest_passage(semantic: SemanticIndex, source: str, other: str) -> dict[str, Any] | None:
    """The passage of `other` closest in meaning to any passage of `source`."""
    pair = closest_pair(semantic, source, other)
    if pair is None:
        return None
    ordinal, similarity = pair
    return passage_reason(semantic.passages([(other, ordinal)]).get((other, ordinal)), similarity)


def passage_reason(row: Passage | None, similarity: float) -> dict[str, Any] | None:
    """The `similar_passage` reason for a stored passage (None if it is gone)."""
    if row is None:
        return None
    text = _passages.passage_text(row.text, row.heading)
    if len(text) > PASSAGE_CHARS:
        text = text[:PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"
    return {
        "kind": "similar_passage",
        "value": row.heading or "",
        "passage": text,
        "similarity": round(similarity, 4),
    }


def duplicates(
    engine: Engine,
    semantic: SemanticIndex,
    *,
    threshold: float = DUPLICATE_THRESHOLD,
    groups: frozenset[str] = frozenset(),
    since: date | None = None,
) -> list[dict[str, Any]]:
    """Pairs of visible postmortems whose meaning is nearly the same, most similar first.

    With `since`, only pairs where at least one postmortem is that recent
    (what the weekly triage needs).
    """
    vectors = semantic.vectors
    if vectors is None:
        return []
    visible = _summaries(engine, groups)
    documents = vectors.document_vectors()
    pairs = []
    for start in range(0, len(vectors.ids), 1024):  # blocks keep memory flat at 10k+
        block = documents[start : start + 1024] @ documents.T
        rows, columns = np.nonzero(block >= threshold)
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            first, second = vectors.ids[start + row], vectors.ids[column]
            if first < second and first in visible and second in visible:
                pairs.append((float(block[row, column]), visible[first], visible[second]))
    if since is not None:
        cutoff = since.isoformat()
        pairs = [p for p in pairs if max(p[1].date, p[2].date) >= cutoff]
    pairs.sort(key=lambda pair: -pair[0])
    return [_pair(*pair) for pair in pairs]


def _pair(similarity: float, first: Summary, second: Summary) -> dict[str, Any]:
    older, newer = sorted((first, second), key=lambda s: (s.date, s.id))
    known = newer.duplicate_of == older.id or older.duplicate_of == newer.id
    return {
        "similarity": round(similarity, 4),
        "postmortem": {"id": newer.id, "title": newer.title, "date": newer.date},
        "possible_duplicate_of": {"id": older.id, "title": older.title, "date": older.date},
        "marked": known,
    }


def duplicate_findings(
    postmortems: list[Postmortem], embedder: Embedder, threshold: float = DUPLICATE_THRESHOLD
) -> list[Finding]:
    """Lint warnings for postmortems that say nearly what another one says.

    The later postmortem of a pair is reported, unless it already declares
    `duplicate_of` the other.
    """
    documents = []
    for postmortem in postmortems:
        vectors = embedder.embed([c.text for c in _passages.chunk(postmortem)])
        documents.append(vectors.sum(axis=0))
    if len(documents) < 2:
        return []
    matrix = normalise(np.asarray(documents, dtype=np.float32))
    grid = matrix @ matrix.T
    findings = []
    for first, second in zip(*np.nonzero(np.triu(grid, 1) >= threshold), strict=True):
        older, newer = sorted(
            (postmortems[int(first)], postmortems[int(second)]), key=lambda p: (p.date, p.path)
        )
        if newer.duplicate_of == older.id:
            continue
        similarity = float(grid[first, second])
        findings.append(
            Finding(
                newer.path,
                newer.line_of("title"),
                "warning",
                "possible-duplicate",
                f"possible duplicate of {older.id} ({older.path}, similarity {similarity:.2f}); "
                f"if it is the same incident, set duplicate_of: {older.id}",
            )
        )
    return findings
