"""The tantivy schema of the full-text index, and the version that guards it."""

from __future__ import annotations

from collections import Counter
from typing import TypedDict

import tantivy

from indexer import filters

# Bump when fields, tokenizers or what is written into them change: an index
# with another version is deleted and rebuilt from the library.
SCHEMA_VERSION = 9  # no `vocab` field: the taxonomy words and tags are not searched
ANALYZER = "pml_en"
PAIRS_ANALYZER = "pml_pairs"

# Multi-valued keyword fields: one per filter (indexer/filters.py); the counted ones
# are aggregated on every search, the others only filter.
FACETS = filters.NAMES
COUNTED_FACETS = filters.COUNTED
# Raw keyword fields that only filter.
KEYWORDS = ("visibility", "audience")
# The field a query searches: the body, whose first line is the title. The
# `title` field is stored for display. A title bonus and a field of taxonomy
# words and tags scored the same as the body alone under cross-validation
# (issue 26, docs/search.md), so neither is searched: the taxonomy reaches a
# query through expansion (_expansion.py), the tags through the tag filter.
TEXT_FIELDS = ("body",)


def analyzer() -> tantivy.TextAnalyzer:
    """English: split on non-alphanumerics, lowercase, drop stop words, stem."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


_ANALYZER = analyzer()


def analyze(text: str) -> list[str]:
    """The words the index stores for `text` (lowercased, folded, stemmed, no stop words)."""
    return list(_ANALYZER.analyze(text))


def _counts(words: list[str]) -> bytes:
    """Analysed words with their counts: "total word count word count ..."."""
    counts = Counter(words)
    pairs = " ".join(f"{word} {count}" for word, count in counts.items())
    return f"{counts.total()} {pairs}".encode()


def pair(first: str, second: str) -> str:
    """The `pairs` term for two analysed words that stand next to each other."""
    return f"{first}_{second}"


def pairs_of(words: list[str]) -> str:
    """Each analysed word joined to the next (stop words are already gone, so
    "split the brain" gives split_brain), as the `pairs` field indexes them."""
    return " ".join(map(pair, words, words[1:]))


class BodyFields(TypedDict):
    terms: bytes
    pairs: str


def body_fields(body: str) -> BodyFields:
    """The fields written from one analysis of the body: `terms` and `pairs`."""
    words = analyze(body)
    return {"terms": _counts(words), "pairs": pairs_of(words)}


def pairs_analyzer() -> tantivy.TextAnalyzer:
    """`pairs_of` already analysed the words: only split on whitespace."""
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()


def terms_of(stored: bytes) -> tuple[dict[str, int], int]:
    """What `body_fields` stored as `terms`: each word's count, and how many words in all."""
    parts = stored.decode().split()
    return dict(zip(parts[1::2], map(int, parts[2::2]), strict=True)), int(parts[0])


def build() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", fast=True)
    builder.add_text_field("title", stored=True, tokenizer_name=ANALYZER)
    builder.add_text_field("body", stored=True, tokenizer_name=ANALYZER)
    # Adjacent analysed words of the body as single terms ("split_brain"):
    # proximity scores these term queries instead of sloppy phrase queries,
    # which read the positions of both words in every postmortem holding them
    # (~5 ms of a 5-word query at 10,000 postmortems). Elasticsearch's
    # `index_phrases` does the same.
    builder.add_text_field(
        "pairs", stored=False, tokenizer_name=PAIRS_ANALYZER, index_option="freq"
    )
    builder.add_text_field("headings", stored=True, tokenizer_name="raw")
    for name in (*FACETS, *KEYWORDS):
        builder.add_text_field(name, stored=True, tokenizer_name="raw", fast=True)
    # How often each analysed word occurs in the body (`terms_of`), written at
    # indexing: pseudo-relevance feedback reads it instead of analysing the body
    # of each top hit again (0.30 -> 0.035 ms a hit at 10,000 synthetic postmortems).
    builder.add_bytes_field("terms", stored=True, indexed=False)
    builder.add_integer_field("day", stored=True, indexed=True, fast=True)
    # A 63-bit hash of the id: ranking reads it from a fast field to learn which
    # postmortem a hit is, instead of loading the whole stored document.
    builder.add_integer_field("key", stored=False, indexed=False, fast=True)
    return builder.build()
