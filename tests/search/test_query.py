"""What a search box's text is about: _query.topic."""

from __future__ import annotations

from indexer.search._query import topic


def test_a_leading_frame_is_not_what_a_question_is_about() -> None:
    assert topic("incidents where a retry storm amplified a small failure") == (
        "retry storm amplified a small failure"
    )
    assert topic("Which postmortems describe a certificate expiring?") == "certificate expiring?"
    assert topic("what went wrong when the cache failed over") == "cache failed over"
    assert topic("outages caused by expired certificates") == "expired certificates"
    # Words that are the topic stay: inside the query, a query of framing only, a phrase.
    assert topic("time drift incidents") == "time drift incidents"
    assert topic("split brain") == "split brain"
    assert topic("incidents") == "incidents"
    assert topic('"incident where" quoting') == '"incident where" quoting'
