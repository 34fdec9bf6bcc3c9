"""Starting a new postmortem: `pml new "Title"` fills the library's template.

The file gets a fresh id (the date and a slug of the title, made unique),
the incident's date (today unless told) and `status: draft`, in the
library's `YYYY/` folder. Drafts skip the section checks, so the new file
passes `pml lint`; once it is set to `published`, lint lists every `TODO`
left, which is what is still to fill. `Facts` carries what is already known
about a past incident (its start, or everything an imported incident says)
into the front matter.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from indexer.format import files as library
from indexer.format import taxonomy

TEMPLATE_NAME = "_template.md"  # starts with "_", so it is never indexed
MAX_SLUG = 60
MAX_TITLE = 200
_ID_LINE = re.compile(r"^id:\s*['\"]?([A-Za-z0-9._-]+)", re.MULTILINE)

# The same text ships as postmortems/_template.md; a library's own template wins.
DEFAULT_TEMPLATE = """\
---
schema: 1
id: {{id}}
title: {{title}}
date: {{date}}  # the day the incident started
status: draft  # draft, in_review, published
services: {{services}}
error_classes: {{error_classes}}
contributing_factors: []
authors: []
# Uncomment and fill in what you know (see docs/format.md):
# severity: SEV2  # SEV1 (worst) to SEV4
# type: outage  # outage, degradation, data, security, near_miss
# owner: team-or-person
# timestamps:  # ISO 8601 with a time zone, in this order
#   started_at: 2025-03-14T18:02:00+00:00
#   detected_at: 2025-03-14T18:06:00+00:00
#   mitigated_at: 2025-03-14T18:41:00+00:00
#   resolved_at: 2025-03-14T19:30:00+00:00
# impact:
#   customer_facing: true
#   summary: 11% of order submissions failed for 39 minutes.
# action_items:
#   - id: AI-1
#     title: Alert on the symptom that customers saw first
#     type: detect  # detect, mitigate, prevent, process
#     owner: someone
#     due: 2025-04-01
---

## Summary

TODO: Two or three sentences: what broke, for whom, for how long, and what fixed it.

## Impact

TODO: Who was affected and how much (failed requests, lost orders, error budget).

## Timeline

TODO: Times in UTC, from the first sign to the all-clear, one line each.

## Contributing factors

TODO: Why it happened and why nothing caught it earlier. Describe conditions, not culprits.

## Detection

TODO: How we noticed, how long that took, and what would have told us sooner.

## Response and recovery

TODO: What we did to mitigate and recover; what helped and what slowed us down.

## Lessons learned

TODO: What went well, what went badly, and where we got lucky.

## Action items

TODO: Each item in the front matter's `action_items`, with an owner and a due date.
"""


class AuthoringError(ValueError):
    """The new postmortem cannot be written as asked; the message says why."""


@dataclass
class Facts:
    """What is known about a past incident before its postmortem is written."""

    day: date | None = None
    timestamps: dict[str, datetime] = field(default_factory=dict)
    severity: str | None = None
    services: list[str] = field(default_factory=list)  # unchecked: suggested if unknown
    external_refs: dict[str, list[str]] = field(default_factory=dict)

    def front_matter(self, vocabulary: taxonomy.Taxonomy) -> tuple[list[str], list[str]]:
        """(YAML lines to add after `date:`, services the taxonomy knows)."""
        known = [s for s in self.services if vocabulary.empty or s in vocabulary.services]
        unknown = [s for s in self.services if s not in known]
        lines = []
        if self.severity:
            lines.append(f"severity: {self.severity}")
        if self.timestamps:
            lines.append("timestamps:")
            lines += [f"  {name}: {value.isoformat()}" for name, value in self.timestamps.items()]
        if self.external_refs:
            lines.append("external_refs:")
            lines += [f"  {k}: {json.dumps(v)}" for k, v in self.external_refs.items()]
        if unknown:
            lines += ["suggested:", f"  services: {json.dumps(unknown)}"]
        return lines, known


def slug(title: str) -> str:
    """Lower-case ASCII words of the title joined by dashes, cut at a word boundary."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", plain.lower())
    result = ""
    for word in words:
        if len(result) + len(word) + 1 > MAX_SLUG:
            break
        result = f"{result}-{word}" if result else word
    return result or "postmortem"


def taken_ids(root: Path) -> set[str]:
    """Ids in use: every file name and every `id:` line, without parsing whole files."""
    ids = set()
    for path in library.discover(root) if root.is_dir() else []:
        ids.add(path.stem)
        match = _ID_LINE.search(path.read_text(encoding="utf-8", errors="replace")[:4096])
        if match:
            ids.add(match.group(1))
    return ids


def fresh_id(root: Path, title: str, today: date) -> str:
    base = f"{today.isoformat()}-{slug(title)}"
    taken = taken_ids(root)
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def check_vocabulary(vocabulary: taxonomy.Taxonomy, kind: str, values: Sequence[str]) -> None:
    """Unknown services or error classes are refused here rather than reported by lint later."""
    if vocabulary.empty:
        return
    known = vocabulary.kind(kind)
    for value in values:
        if value not in known:
            hint = taxonomy.suggest(value, known)
            label = {"services": "service", "error_classes": "error class"}[kind]
            raise AuthoringError(
                f"unknown {label} '{value}' (not in taxonomy.yaml)"
                + (f"; did you mean '{hint}'?" if hint else "")
            )


def _with_fields(text: str, lines: list[str]) -> str:
    """Add front-matter lines after the `date:` line (or at the end of the front matter)."""
    if not lines:
        return text
    rows = text.split("\n")
    end = next((i for i, row in enumerate(rows[1:], 1) if row.strip() == "---"), len(rows))
    where = next((i + 1 for i, row in enumerate(rows[:end]) if row.startswith("date:")), end)
    return "\n".join([*rows[:where], *lines, *rows[where:]])


def render(template: str, identifier: str, title: str, day: date, **lists: Sequence[str]) -> str:
    """The template with its {{placeholders}} filled; JSON scalars and lists are valid YAML."""
    values = {"id": identifier, "title": json.dumps(title, ensure_ascii=False), "date": str(day)}
    values.update({k: json.dumps(list(v), ensure_ascii=False) for k, v in lists.items()})
    for name, value in values.items():
        template = template.replace("{{" + name + "}}", value)
    return template


def new_postmortem(
    root: Path,
    title: str,
    *,
    services: Sequence[str] = (),
    error_classes: Sequence[str] = (),
    today: date,
    facts: Facts | None = None,
) -> Path:
    """Write a new draft postmortem into `root`/YYYY/ and return its path.

    The id, folder and `date` come from `facts.day` when given (a past
    incident), else `today`.
    """
    title = title.strip()
    if not title or len(title) > MAX_TITLE or any(ord(c) < 32 for c in title):
        raise AuthoringError(f"the title must be one line of 1 to {MAX_TITLE} characters")
    if not root.is_dir():
        raise AuthoringError(f"no library folder at {root}")
    try:
        vocabulary = taxonomy.load(root)
    except taxonomy.TaxonomyError as error:
        raise AuthoringError(str(error)) from None
    check_vocabulary(vocabulary, "services", services)
    check_vocabulary(vocabulary, "error_classes", error_classes)
    facts = facts or Facts()
    day = facts.day or today
    extra, known = facts.front_matter(vocabulary)
    services = [*services, *(s for s in known if s not in services)]
    custom = root / TEMPLATE_NAME
    template = custom.read_text(encoding="utf-8") if custom.is_file() else DEFAULT_TEMPLATE
    identifier = fresh_id(root, title, day)
    text = _with_fields(
        render(template, identifier, title, day, services=services, error_classes=error_classes),
        extra,
    )
    path = root / f"{day.year}" / f"{identifier}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as handle:  # never overwrite a file
        handle.write(text)
    return path
