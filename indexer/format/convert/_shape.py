"""Turning a foreign postmortem into our format: title, date, sections, action items.

What the converter decides it writes; what it cannot decide goes into
`review` (or `suggested`), which `pml lint` reports as warnings that say
what a person should do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from indexer.format import headings, markdown
from indexer.format.convert._readers import Source
from indexer.format.fixer import normalise_date, normalise_timestamp
from indexer.format.postmortem import ACTION_TYPES, SEVERITIES, SUGGESTION_KINDS
from indexer.format.taxonomy import Taxonomy

MAX_ACTION_ITEMS = 50
MAX_ITEM_TITLE = 2000  # a whole paragraph fits; only a runaway list item is cut
MAX_SUGGESTIONS = 3
LEAD_LINES = 15  # the opening of a write-up, where it says when the incident happened
_GENERIC_TITLE = re.compile(
    r"(?:example\s+)?(?:post[- ]?mortem|incident(?:\s+report)?|rca|retrospective)s?\Z", re.I
)
_ISO_DAY = re.compile(r"\b((?:19|20)\d{2})[-/](\d{2})[-/](\d{2})\b")
_NAMED_DAY = re.compile(
    r"\b(\d{1,2}(?:st|nd|rd|th)?\s+(?:January|February|March|April|May|June|July|August|"
    r"September|October|November|December)\s+(?:19|20)\d{2}|(?:January|February|March|April|"
    r"May|June|July|August|September|October|November|December)\s+\d{1,2}(?:st|nd|rd|th)?,?"
    r"\s+(?:19|20)\d{2})\b"
)
_SHORT_DAY = re.compile(r"\b(?:on|last modified on|created on)\s+([A-Z][a-z]{2} \d{1,2}, \d{4})")
_PATH_DAY = re.compile(r"(?<!\d)((?:19|20)\d{2})[-/](\d{2})[-/](\d{2})(?!\d)")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_BOLD_FIELD = re.compile(r"^\s*\*\*([A-Za-z ]{2,20}?)\*\*\s*:?\s*\**\s*:?\s*(.+?)\s*$")
_TABLE_ROW = re.compile(r"^\s*\|(.*)\|?\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")
_LIST_ITEM = re.compile(r"^(?P<indent>\s{0,1})[-*+]\s+(?:\[(?P<box>[ xX])\]\s+)?(?P<text>\S.*)$")
_STATUS_WORD = re.compile(r"\b(TODO|DONE|OPEN|CLOSED|IN PROGRESS|WONTFIX)\b\s*$", re.I)
_CONTINUATION = re.compile(r"^(?:\s{2,}|\t)\S")
_NEW_BLOCK = re.compile(r"^\s*(?:[-*+]|\d+[.)]|#|\||>|```)")
_LEVELS = r"P[0-4]|critical|blocker|urgent|highest|high|medium|normal|lowest|low|trivial"
_PRIORITY = re.compile(
    rf"(?:\*\*|__|\[|\()\s*(?:priority\s*:?\s*)?({_LEVELS})\s*(?:\*\*|__|\]|\))\s*:?"
    rf"|\bpriority\s*:\s*({_LEVELS})\b,?"
    r"|^(P[0-4])\s*[:\-\u2013]\s",
    re.I,
)
_PRIORITY_WORDS = {"critical": "P0", "blocker": "P0", "urgent": "P0", "highest": "P0"}
_PRIORITY_WORDS |= {"high": "P1", "medium": "P2", "normal": "P2", "low": "P3"}
_PRIORITY_WORDS |= {"lowest": "P4", "trivial": "P4"}
_ISSUE_URL = (
    r"https?://[^\s)]+?(?:/issues/\d+|/pull/\d+|/merge_requests/\d+|/browse/[A-Z][A-Z0-9]+-\d+"
    r"|/tickets?/\d+|show_bug\.cgi\?id=\d+)"
)
_LINKED_TICKET = re.compile(rf"\[([^\]]*)\]\(({_ISSUE_URL})\)")
_BARE_URL = re.compile(rf"<?({_ISSUE_URL})>?")
# An issue key, not a severity, a standard or an advisory that looks like one (SEV-1, CVE-2021-…).
_NOT_KEYS = r"(?!(?:SEV|SHA|UTF|TLS|SSL|HTTP|ISO|RFC|CVE|GHSA|IPV)-)"
_KEY = rf"#\d+|{_NOT_KEYS}[A-Z][A-Z0-9]{{1,9}}-\d+(?!-\d)"
# A key in brackets anywhere; a bare key only where a ticket is written: first, last, in "(...)".
_TICKET = re.compile(
    rf"\[({_KEY})\]\s*:?|^({_KEY})\b\s*:?|\(\s*(?:bug|ticket|issue)?\s*({_KEY}|\d{{5,}})\s*\)"
    rf"|\b(?:bug|ticket|issue)\s+({_KEY}|\d{{5,}})\b|(?<![\w-])({_KEY})\.?$"
)
# Sections other templates keep apart that our table counts as part of one of ours
# (docs/format.md): renamed, two would collapse into one heading and lose their label.
_OWN_SECTIONS = frozenset(
    {
        "leadup", "fault", "response", "recovery", "trigger", "five whys", "5 whys",
        "why surprised", "what went well", "what went wrong", "where we got lucky",
        "what went well and what didn't", "tl;dr", "tldr",
    }
)  # fmt: skip
_REFERENCE = re.compile(r"^\s{0,3}\[([^\]]+)\]:\s*<?(https?://[^\s>]+)>?")
_WIKI_LINK = re.compile(r"\[\[([^\]|]+)(?:\|([^\]]+))?\]\]")
_LABEL_KEYS = ("service", "system", "component", "affected", "tag", "categor")
_URL_KEYS = ("source_url", "url", "permalink", "canonical_url", "canonical", "original_url")
_INCIDENT_DATE_KEYS = ("date", "incident_date", "incident date")
_DATE_KEYS = ("date", "incident_date", "incident date", "created", "pubdate", "publishdate")
_STATUSES = {"todo": "open", "open": "open", "done": "done", "closed": "done", "fixed": "done"}
_STATUSES |= {"in progress": "in_progress", "wontfix": "wont_do", "won't do": "wont_do"}


@dataclass
class Shaped:
    """Our front matter (in docs/format.md order) and body for one foreign postmortem."""

    front: dict[str, Any]
    body: str
    review: list[str] = field(default_factory=list)


@dataclass
class _Section:
    heading: markdown.Heading
    names: tuple[str, ...]
    end: int  # first line after the section (1-based, exclusive)


def shape(source: Source, vocabulary: Taxonomy, source_url: str, today: date) -> Shaped:
    """Our postmortem for a foreign one; `review` lists what a person must check."""
    meta = {str(k).lower(): v for k, v in source.meta.items()}
    review = list(source.notes)
    body = _WIKI_LINK.sub(lambda m: m.group(2) or m.group(1), source.body)
    fields = _bold_fields(body)
    title, body = _title(meta, body, source.stem, review)
    day, started = _date(meta, fields, body, source, review)
    body = _map_headings(body)
    front: dict[str, Any] = {"schema": 1, "title": title, "date": day.isoformat()}
    front["status"] = "draft" if _is_draft(meta) else "published"
    severity = _severity(meta.get("severity") or fields.get("severity"), review)
    if severity:
        front["severity"] = severity
    tags = _words(meta.get("tags")) + _words(meta.get("categories"))
    if tags:
        front["tags"] = sorted(set(tags), key=tags.index)
    authors = _names(meta.get("authors") or meta.get("author") or fields.get("authors"))
    if authors:
        front["authors"] = authors
    if started:
        front["timestamps"] = {"started_at": started}
    items = _action_items(body)
    if items:
        front["action_items"] = items
    front["source_url"] = _url(meta) or source_url
    suggestions = suggest(vocabulary, f"{title}\n{body}\n{_labels(meta)}")
    if suggestions:
        front["suggested"] = suggestions
    if review:
        front["review"] = review
    return Shaped(front=front, body=body.strip() + "\n", review=review)


def _labels(meta: dict[str, Any]) -> str:
    """What the original's own fields say is affected (`affectedsystems`, `components`, tags)."""
    words: list[str] = []
    for key, value in meta.items():
        if any(part in key for part in _LABEL_KEYS):
            values = value if isinstance(value, list) else [value]
            words.extend(str(v) for v in values if isinstance(v, (str, int)))
    return "\n".join(words)


def _bold_fields(body: str) -> dict[str, str]:
    """`**Date**: 2015-10-21`, `**Authors:** a, b`: the SRE book's way of writing metadata."""
    found: dict[str, str] = {}
    for line in body.split("\n")[:40]:
        match = _BOLD_FIELD.match(line)
        if match:
            found.setdefault(match.group(1).strip().lower(), match.group(2).strip("* "))
    return found


def _title(meta: dict[str, Any], body: str, stem: str, review: list[str]) -> tuple[str, str]:
    """The title and the body without the heading it came from."""
    found = [heading for heading in markdown.headings(body) if heading.text.strip()]
    lines = body.split("\n")
    given = meta.get("title") or meta.get("name")
    if isinstance(given, str) and given.strip():
        title = given.strip()
        # A body that repeats the title as its first heading (Notion, Confluence) drops it.
        if found and found[0].level == 1 and found[0].text.strip() == title:
            del lines[found[0].line - 1]
        return title, "\n".join(lines)
    if not found or (found[0].level > 2 and len(found) > 1 and found[1].level < found[0].level):
        review.append("no title in the original: the file name was used; say what broke, for whom")
        return stem.replace("_", " ").strip() or "Untitled postmortem", body
    first = found[0]
    title = first.text.strip()
    remove = [first.line]
    if _GENERIC_TITLE.match(title) and len(found) > 1 and not headings.canonical(found[1].text):
        title = found[1].text.strip()  # "# Example Postmortem" then "## Shakespeare Sonnet++ ..."
        remove.append(found[1].line)
    elif _GENERIC_TITLE.match(title):
        review.append(f"the title '{title}' is generic: say what broke, for whom")
    for line in sorted(remove, reverse=True):
        del lines[line - 1]
    return title, "\n".join(lines)


def _date(
    meta: dict[str, Any], fields: dict[str, str], body: str, source: Source, review: list[str]
) -> tuple[date, str | None]:
    """The incident's day (and start time when the original has one with a zone)."""
    for key in _DATE_KEYS:
        value = meta.get(key)
        if isinstance(value, str) and (day := normalise_date(value)):
            chosen = date.fromisoformat(day)
            trusted = key in _INCIDENT_DATE_KEYS  # `created`, `pubDate`: when it was written
            _mention_earlier(chosen, source, f"'{key}' in the original", review, given=trusted)
            stamp = normalise_timestamp(value) if "T" in value or ":" in value else None
            return chosen, stamp
    if (day := normalise_date(fields.get("date", "").split(" ")[0])) is not None:
        return date.fromisoformat(day), None
    from_path = _path_date(source, meta)
    if from_path is not None:
        path_day, origin = from_path
        _mention_earlier(path_day, source, origin, review, given=False)
        return path_day, None
    year = _YEAR.search(source.stem)
    mentioned = _dates_in(body)
    in_year = [d for d in mentioned if year and d.year == int(year.group(1))]
    if in_year or mentioned:
        chosen = (in_year or mentioned)[0]
        review.append(
            f"date {chosen.isoformat()} is the first date in the text: "
            "check it is the day the incident started"
        )
        return chosen, None
    edited = _page_date(meta)
    if edited is not None:
        review.append(
            f"date {edited.isoformat()} is when the page was last edited, not the incident: fix it"
        )
        return edited, None
    fallback = source.modified or date.today()
    review.append(
        f"no date in the original: {fallback.isoformat()} is the file's modification date; "
        "set the day the incident started"
    )
    return fallback, None


def _mention_earlier(
    chosen: date, source: Source, origin: str, review: list[str], *, given: bool
) -> None:
    """A blog post's date is when it was published; its opening may name an earlier day.

    Only the first lines count (where a write-up says when it happened), and
    the earliest day they name within a year before `chosen`, with its line.
    A `date` field (`given`) is trusted unless the opening names an earlier day.
    """
    opening = "\n".join(source.body.split("\n")[:LEAD_LINES])
    earlier = [(d, n) for d, n in _dated_lines(opening) if 0 < (chosen - d).days <= 366]
    if (not given) or earlier:
        first = ""
        if earlier:
            day, line = min(earlier)
            line += source.body_line - 1 if source.kind == "markdown" else 0
            where = f"line {line}" if source.kind == "markdown" else "its opening"
            first = f" (the text first mentions {day.isoformat()}, on {where})"
        review.append(
            f"date {chosen.isoformat()} is from {origin}{first}: "
            "check it is the day the incident started"
        )


def _path_date(source: Source, meta: dict[str, Any]) -> tuple[date, str] | None:
    """A day the file's name or path holds, and where it was found, said truly.

    `2018-08-05-title.md` (Jekyll, Docusaurus) is the file name; a `2019/10/24/`
    folder or a `slug`/`path` field (Zola permalinks) is not.
    """
    for text, origin in (
        (source.stem, "the file name"),
        (str(Path(source.name).parent), "the folder name"),
        (str(meta.get("path") or ""), "'path' in the original"),
        (str(meta.get("slug") or ""), "'slug' in the original"),
    ):
        match = _PATH_DAY.search(text if text != "." else "")
        if match:
            try:
                found = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError:
                continue
            return found, origin
    return None


def _dates_in(body: str) -> list[date]:
    """Dates the text mentions, in the order it mentions them."""
    return [day for day, _ in _dated_lines(body)]


def _dated_lines(body: str) -> list[tuple[date, int]]:
    """Each date the text mentions (ISO or written out) with its line, in text order."""
    found: list[tuple[int, date]] = []
    for match in _ISO_DAY.finditer(body):
        try:
            found.append((match.start(), date(*(int(g) for g in match.groups()))))
        except ValueError:
            continue
    for match in _NAMED_DAY.finditer(body):
        day = normalise_date(match.group(1).replace(",", ", ").replace(",  ", ", "))
        if day:
            found.append((match.start(), date.fromisoformat(day)))
    return [(day, body.count("\n", 0, start) + 1) for start, day in sorted(found)]


def _page_date(meta: dict[str, Any]) -> date | None:
    match = _SHORT_DAY.search(str(meta.get("page_metadata") or ""))
    day = normalise_date(match.group(1)) if match else None
    return date.fromisoformat(day) if day else None


def _is_draft(meta: dict[str, Any]) -> bool:
    return meta.get("draft") is True or str(meta.get("status", "")).lower() == "draft"


def _severity(value: Any, review: list[str]) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).upper().replace(" ", "").replace("-", "")
    if text in SEVERITIES:
        return text
    if text.isdigit() and f"SEV{text}" in SEVERITIES:
        return f"SEV{text}"
    review.append(f"the original says severity '{value}': set severity to SEV1 (worst) .. SEV4")
    return None


def _words(value: Any) -> list[str]:
    """Tags as lower-case words; a Notion property lists them as `a, b`."""
    values = (
        value if isinstance(value, list) else value.split(",") if isinstance(value, str) else []
    )
    return [re.sub(r"\s+", "-", str(v).strip().lower()) for v in values if str(v).strip()]


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    if isinstance(value, list):
        return [str(name).strip() for name in value if str(name).strip()]
    return []


def _url(meta: dict[str, Any]) -> str | None:
    for key in _URL_KEYS:
        value = meta.get(key)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return value
    return None


def _sections(body: str) -> list[_Section]:
    found = markdown.headings(body)
    total = body.count("\n") + 2
    result = []
    for position, heading in enumerate(found):
        after = (h.line for h in found[position + 1 :] if h.level <= heading.level)
        names = headings.canonical(heading.text, exact=True)
        result.append(_Section(heading, names, next(after, total)))
    return result


def _map_headings(body: str) -> str:
    """Rename the sections to ours (`## Issue Summary` -> `## Summary`), at level 2.

    Only headings at the level the document uses for its sections are renamed,
    only when they mean exactly one of ours and are not a section of their own
    in another template (Atlassian's Leadup, Fault, Response, Recovery), and
    only one heading per name of ours: never two `## Summary`. The rest keep
    their words. Text after a heading's colon (`## Impact: 1.21B queries lost`)
    stays as a line.
    """
    sections = _sections(body)
    levels = [s.heading.level for s in sections if s.names]
    if not levels:
        return body
    level = min(levels)
    shift = 2 - level
    renames = _renames([s for s in sections if s.heading.level == level])
    lines = body.split("\n")
    for section in sections:
        heading = section.heading
        new_level = min(6, max(2, heading.level + shift))
        text = heading.text
        extra = ""
        if heading.line in renames:
            text = renames[heading.line]
            extra = _after_colon(heading.text)
        lines[heading.line - 1] = "#" * new_level + " " + text + (f"\n\n{extra}" if extra else "")
    return "\n".join(lines)


def _renames(sections: list[_Section]) -> dict[int, str]:
    """Heading line -> our name, for the headings that are another name for one of ours.

    When several claim the same name, the heading that already is it wins
    (`## Summary` over `## Overview`), else the first; the others keep theirs.
    """
    claims: dict[str, list[_Section]] = {}
    for section in sections:
        key = headings.normalise(section.heading.text)
        if len(section.names) == 1 and key not in _OWN_SECTIONS:
            claims.setdefault(section.names[0], []).append(section)
    renames: dict[int, str] = {}
    for name, claimants in claims.items():
        exact = [s for s in claimants if headings.normalise(s.heading.text) == name.lower()]
        renames[(exact or claimants)[0].heading.line] = name
    return renames


def _after_colon(text: str) -> str:
    """What a heading says after its name: 'Impact:163 Estimated 1.21B' -> 'Estimated 1.21B'."""
    if ":" not in text:
        return ""
    rest = text.split(":", 1)[1].strip()
    return re.sub(r"^\d{1,3}(?=\s|$)", "", rest).strip()  # a footnote mark, not a year


def _action_items(body: str) -> list[dict[str, Any]]:
    """Action items from the action-items section's table or list, or any 'Action Item' table."""
    lines = body.split("\n")
    items: list[dict[str, Any]] = []
    for section in _sections(body):
        if "Action items" in section.names and len(section.names) == 1:
            part = lines[section.heading.line : section.end - 1]
            items.extend(_table_items(part) or _list_items(part, _link_targets(lines)))
    if not items:
        items = _table_items(lines, needs_action_header=True)
    for number, item in enumerate(items[:MAX_ACTION_ITEMS], start=1):
        item["id"] = f"AI-{number}"
    return [{"id": i.pop("id"), **i} for i in items[:MAX_ACTION_ITEMS]]


def _table_items(lines: list[str], *, needs_action_header: bool = False) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    header: list[str] | None = None
    for line in lines:
        row = _TABLE_ROW.match(line)
        if row is None:
            header = None
            continue
        if _TABLE_RULE.match(line):
            continue
        cells = [cell.strip() for cell in row.group(1).split("|")]
        if header is None:
            header = [cell.lower() for cell in cells]
            if needs_action_header and not any("action" in cell for cell in header):
                header = []
            continue
        if header:
            item = _row_item(header, cells)
            if item:
                items.append(item)
    return items


def _row_item(header: list[str], cells: list[str]) -> dict[str, Any] | None:
    item: dict[str, Any] = {}
    extra: list[str] = []
    for name, cell in zip(header, cells, strict=False):
        value = re.sub(r"\*\*|`", "", cell).strip()
        status = _STATUS_WORD.search(value)
        if status:
            item.setdefault("status", _STATUSES.get(status.group(1).lower(), "open"))
            value = value[: status.start()].strip()
        if not value or value.lower() in ("n/a", "-", "none", "tbd"):
            continue
        if any(word in name for word in ("action", "item", "task", "description", "what")):
            item.setdefault("title", value)
        elif "type" in name:
            item["type"] = value.lower() if value.lower() in ACTION_TYPES else "other"
        elif any(word in name for word in ("owner", "assignee", "who")):
            item["owner"] = value
        elif "status" in name:
            item["status"] = _STATUSES.get(value.lower(), "open")
        elif "prio" in name:
            level = _item_fields(f"priority: {value}").get("priority")
            if level:
                item["priority"] = level
        elif any(word in name for word in ("due", "deadline", "date")):
            due = normalise_date(value)
            if due:
                item["due"] = due
        elif any(word in name for word in ("bug", "ticket", "jira", "issue", "link")):
            item["ticket"] = value
        else:
            extra.append(value)
    if "title" not in item and extra:
        item["title"] = extra.pop(0)
    if not item.get("title"):
        return None
    found = _item_fields(item["title"])
    for key in ("priority", "ticket"):
        if key in found:
            item.setdefault(key, found[key])
    item["title"] = found.get("title", item["title"])
    return item


def _link_targets(lines: list[str]) -> dict[str, str]:
    """Markdown reference definitions (`[#2227]: https://...`): where a `[#2227]` points."""
    targets: dict[str, str] = {}
    for line in lines:
        match = _REFERENCE.match(line)
        if match:
            targets.setdefault(match.group(1).lower(), match.group(2))
    return targets


def _list_items(lines: list[str], targets: dict[str, str]) -> list[dict[str, Any]]:
    """One item per top-level list item, with the lines that continue it (indented or not)."""
    items: list[dict[str, Any]] = []
    current: list[str] | None = None
    box = ""
    for line in [*lines, ""]:
        match = _LIST_ITEM.match(line)
        continues = current is not None and line.strip() and not _NEW_BLOCK.match(line)
        if match is None and continues and current is not None:
            current.append(line.strip())
            continue
        if current is not None:
            item = _item_fields(" ".join(current))
            if str(item.get("ticket", "")).lower() in targets:
                item["ticket"] = targets[item["ticket"].lower()]  # the issue it links to
            if item.get("title"):
                status = "done" if box.lower() == "x" else "open"
                items.append({"title": item.pop("title"), "status": status, **item})
            current = None
        if match is not None:
            current, box = [match.group("text")], match.group("box") or ""
    return items


def _item_fields(text: str) -> dict[str, Any]:
    """An action item's title, with its priority and ticket taken out of the words."""
    item: dict[str, Any] = {}
    linked = _LINKED_TICKET.search(text)
    if linked:
        item["ticket"] = linked.group(2)
        label = linked.group(1).strip()
        keep = "" if _TICKET.fullmatch(label) or not label else label
        text = text[: linked.start()] + keep + text[linked.end() :]
    elif bare := _BARE_URL.search(text):
        item["ticket"] = bare.group(1)
        text = text[: bare.start()] + text[bare.end() :]
    else:
        ticket = _TICKET.search(text)
        if ticket:
            item["ticket"] = next(g for g in ticket.groups() if g)
            text = text[: ticket.start()] + " " + text[ticket.end() :]
    priority = _PRIORITY.search(text)
    if priority:
        level = next(g for g in priority.groups() if g)
        item["priority"] = level.upper() if level[0] in "pP" else _PRIORITY_WORDS[level.lower()]
        text = text[: priority.start()] + " " + text[priority.end() :]
    title = re.sub(r"\*\*|__|`|\(\s*\)|\[\s*\]", "", text)  # and what the ticket left
    title = re.sub(r"\s+", " ", title).strip(" -:\u2013,;")
    if title:
        item["title"] = title[:MAX_ITEM_TITLE]
    return item


def suggest(vocabulary: Taxonomy, text: str) -> dict[str, list[str]]:
    """Taxonomy terms whose id, title or aliases the text uses, most mentioned first."""
    lowered = text.lower()
    suggestions: dict[str, list[str]] = {}
    for kind in SUGGESTION_KINDS:
        counts: dict[str, int] = {}
        for term in vocabulary.kind(kind).values():
            phrases = {term.id.replace("-", " "), term.id, term.title.lower()}
            phrases |= {alias.lower() for alias in term.aliases}
            total = sum(
                len(re.findall(rf"(?<![\w-]){re.escape(p)}(?![\w-])", lowered))
                for p in phrases
                if len(p) >= 4
            )
            if total:
                counts[term.id] = total
        ranked = sorted(counts, key=lambda term_id: (-counts[term_id], term_id))
        if ranked:
            suggestions[kind] = ranked[:MAX_SUGGESTIONS]
    return suggestions
