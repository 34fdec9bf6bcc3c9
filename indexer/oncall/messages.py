"""An incident's precedents as each channel shows them: a note's text, Slack blocks, a Teams card.

`message` is what `delivery.enqueue` stored: the alert, the service it was
taken to be about, and at most three items (id, title, date, strength,
reasons, link). Slack and Teams get the digest's formats
(`indexer.reports.sending`): a header and one section per postmortem; a
Teams "post to a channel" workflow takes the Adaptive Card envelope.
"""

from __future__ import annotations

from typing import Any

from indexer.reports.sending import slack_escape, slack_section

MAX_REASONS = 3  # a note is read on a phone at 03:00


def heading(message: dict[str, Any]) -> str:
    alert = message.get("alert") or message.get("source_id") or "this incident"
    return f"Seen before: {alert}"[:150]


def note_text(message: dict[str, Any]) -> str:
    """Plain text for a PagerDuty or Opsgenie note."""
    lines = [f"{heading(message)} - postmortems from the library to read now:"]
    for number, item in enumerate(message.get("items", []), start=1):
        lines.append(f"{number}. {item['title']} ({item['date']}, {item['strength']} match)")
        lines.append(f"   {item['link']}")
        for reason in item.get("reasons", [])[:MAX_REASONS]:
            lines.append(f"   - {reason}")
    return "\n".join(lines)


def slack_payload(message: dict[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook message: `text` (what other chats read) and blocks."""
    title = heading(message)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}}
    ]
    lines = [title]
    for item in message.get("items", []):
        link = f"<{item['link']}|{slack_escape(item['title'])}>"
        why = "\n".join(f"• {slack_escape(r)}" for r in item.get("reasons", [])[:MAX_REASONS])
        text = f"*{link}*\n{item['date']}, {item['strength']} match\n{why}"
        blocks.append(slack_section(text[:3000]))  # Slack's limit for a section's text
        lines.append(link)
    return {"text": "\n".join(lines), "blocks": blocks}


def teams_payload(message: dict[str, Any]) -> dict[str, Any]:
    """An Adaptive Card in the envelope a Teams "post to a channel" workflow takes."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": heading(message), "size": "Large", "weight": "Bolder"}
    ]
    for item in message.get("items", []):
        reasons = item.get("reasons", [])[:MAX_REASONS]
        body += [
            {
                "type": "TextBlock",
                "text": f"[{item['title']}]({item['link']})",
                "weight": "Bolder",
                "wrap": True,
            },
            {"type": "TextBlock", "text": f"{item['date']}, {item['strength']} match"},
            {"type": "TextBlock", "text": "\n".join(f"- {r}" for r in reasons), "wrap": True},
        ]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    return {"type": "message", "attachments": [attachment]}
