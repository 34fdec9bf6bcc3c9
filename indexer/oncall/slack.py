"""The Slack slash command (`/postmortems connection pool exhaustion`): checked, then answered.

Slack signs every request with the app's signing secret: `X-Slack-Signature`
is `v0=` and the hex HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw
body}`. A request older (or newer) than five minutes is refused, so a
captured one cannot be replayed. The answer is the library's search as an
outsider sees it (restricted postmortems never reach a channel), as Block
Kit, ephemeral (only the person who asked sees it).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import parse_qs, quote

from indexer.library import Library
from indexer.reports.sending import slack_escape, slack_section
from indexer.search import MAX_QUERY_LENGTH, SearchQueryError

MAX_SKEW = 5 * 60  # seconds, as Slack's documentation asks
RESULTS = 5
SNIPPET = 300


def signature_valid(
    secrets: list[str],
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    now: float | None = None,
) -> bool:
    """The v0 signature matches one of `secrets` and the timestamp is within five minutes."""
    if not timestamp or not signature or not timestamp.strip().isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > MAX_SKEW:
        return False
    base = b"v0:" + timestamp.strip().encode() + b":" + body
    given = signature.strip().encode("utf-8", "replace")
    valid = False
    for secret in secrets:  # every secret is compared, so timing does not tell which matched
        expected = b"v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest().encode()
        valid |= hmac.compare_digest(expected, given)
    return valid


def command_text(body: bytes) -> tuple[str, str]:
    """(command, text) of a slash command's form body."""
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return fields.get("command", ["/postmortems"])[0], fields.get("text", [""])[0].strip()


def answer(library: Library, command: str, text: str, base_url: str) -> dict[str, Any]:
    """The ephemeral Block Kit answer: the top postmortems for `text`, the outsider's view."""
    if not text:
        return _said(f"Search the postmortem library: `{command} connection pool exhaustion`")
    query = text[:MAX_QUERY_LENGTH]
    try:
        results = library.searcher_for(frozenset()).search(query, limit=RESULTS)
    except SearchQueryError as error:
        return _said(f"That search cannot run: {error}")
    link = f"{base_url}/?q={quote(query)}"
    heading = f"*{results.total}* postmortem{'s' if results.total != 1 else ''} for " + (
        f"<{link}|{slack_escape(query)}>"
    )
    if results.did_you_mean and results.corrected:
        heading += f" (searched for _{slack_escape(results.did_you_mean)}_)"
    blocks: list[dict[str, Any]] = [slack_section(heading)]
    for hit in results.results:
        page = f"{base_url}/postmortems/{quote(hit.id)}"
        snippet = _plain(hit.snippet)[:SNIPPET]
        text_block = (
            f"*<{page}|{slack_escape(hit.title)}>*\n{hit.date}, {hit.severity or 'SEV?'}, "
            f"{hit.strength} match\n{slack_escape(snippet)}"
        )
        blocks.append(slack_section(text_block[:3000]))
    if not results.results:
        blocks.append(slack_section("Nothing in the library matches that."))
    return {"response_type": "ephemeral", "text": f"Postmortems for {query}", "blocks": blocks}


def _said(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text, "blocks": [slack_section(text)]}


def _plain(snippet: str) -> str:
    """A search snippet without its <b> marks and HTML escapes (Slack escapes its own)."""
    for mark in ("<b>", "</b>"):
        snippet = snippet.replace(mark, "")
    return " ".join(
        snippet.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
        .split()
    )
