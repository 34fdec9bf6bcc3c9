"""`pml lint --fix`: rewrite what needs no judgement, line by line, keeping comments.

It normalises dates and timestamps written in common forms (Jekyll's
`2015-10-21 14:54:00 +0000`, Hugo's `...Z`, `October 21, 2015`), writes the
`id` a file already has implicitly (its name), numbers action items that have
no id, and puts the front-matter fields in the order of docs/format.md. The
YAML is edited as text, never re-dumped, so comments and quoting survive. A
timestamp without a time zone is left alone: that needs a person to say which.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

from indexer.format import files, frontmatter
from indexer.format.authoring import slug
from indexer.format.postmortem import (
    ID_PATTERN,
    KNOWN_FIELDS,
    TIMESTAMP_FIELDS,
    MalformedPostmortem,
    parse_date,
)

_KEY = re.compile(r"([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]|$)")
_VALUE = re.compile(
    r"^(?P<head>\s*(?:-\s+)?[\w.-]+:[ \t]*)(?P<value>[^#\n]*?)(?P<tail>[ \t]+#.*)?$"
)
_ZONE = re.compile(r"[ ]?(?:(Z|UTC|GMT)|([+-]\d{2}):?(\d{2}))$", re.IGNORECASE)
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d", "%B %d %Y")
_CLOCK = re.compile(r"\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AP]M)?(?:\s+[A-Z]{2,4})?$", re.I)
_ITEM = re.compile(r"^(?P<indent>\s*)-(?P<space>\s+)(?P<rest>\S.*)$")


def normalise_date(text: str) -> str | None:
    """`YYYY-MM-DD` for a date written in a common form, or None."""
    value = text.strip().strip("'\"")
    day = parse_date(value)
    if day is None:
        # "February 5, 2022 11:40 AM" (Notion), "21st July 2018": the day is what counts.
        named = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", _CLOCK.sub("", value))
        day = _named_date(named)
    return day.isoformat() if day else None


def _named_date(value: str) -> date | None:
    for form in _DATE_FORMATS:
        try:
            return datetime.strptime(value, form).date()
        except ValueError:
            continue
    return None


def normalise_timestamp(text: str) -> str | None:
    """ISO 8601 with a `+HH:MM` zone for a timestamp with a zone in a common form, or None."""
    value = text.strip().strip("'\"")
    zone = _ZONE.search(value)
    if zone is None:
        return None  # no time zone: never guessed
    offset = "+00:00" if zone.group(1) else f"{zone.group(2)}:{zone.group(3)}"
    local = value[: zone.start()].strip().replace(" ", "T", 1)
    try:
        parsed = datetime.fromisoformat(local + offset)
    except ValueError:
        return None
    return parsed.isoformat()


def fix_text(text: str, stem: str) -> str:
    """The file with its front matter fixed; the text unchanged when nothing applies."""
    try:
        yaml_text, body, _ = frontmatter.split(text)
        lines_of: dict[str, int] = {}
        data = frontmatter.load(yaml_text, lines_of, first_line=0)
    except frontmatter.FrontMatterError:
        return text
    if not isinstance(data, dict):
        return text
    lines = yaml_text.split("\n")
    _fix_values(lines, lines_of, data)
    lines = _number_action_items(lines, lines_of, data)
    if "id" not in data:
        identifier = stem if ID_PATTERN.match(stem) else slug(stem)
        lines.insert(0, f"id: {identifier}")
    lines = _sorted_fields(lines)
    fixed = "---\n" + "\n".join(lines) + "\n---\n" + body
    try:
        frontmatter.parse(fixed)
    except frontmatter.FrontMatterError:
        return text  # an edit would break the file: leave it for a person
    return fixed


def _replace_value(lines: list[str], index: int, normalise: Callable[[str], str | None]) -> None:
    match = _VALUE.match(lines[index])
    if match is None:
        return
    value = match.group("value")
    fixed = normalise(value)
    if fixed and fixed != value.strip():
        lines[index] = match.group("head") + fixed + (match.group("tail") or "")


def _fix_values(lines: list[str], lines_of: dict[str, int], data: dict[str, object]) -> None:
    if isinstance(data.get("date"), str) and "date" in lines_of:
        _replace_value(lines, lines_of["date"], normalise_date)
    stamps = data.get("timestamps")
    if isinstance(stamps, dict):
        for name in TIMESTAMP_FIELDS:
            key = f"timestamps.{name}"
            if isinstance(stamps.get(name), str) and key in lines_of:
                _replace_value(lines, lines_of[key], normalise_timestamp)
    items = data.get("action_items")
    for position, item in enumerate(items if isinstance(items, list) else []):
        key = f"action_items.{position}.due"
        if isinstance(item, dict) and isinstance(item.get("due"), str) and key in lines_of:
            _replace_value(lines, lines_of[key], normalise_date)


def _number_action_items(
    lines: list[str], lines_of: dict[str, int], data: dict[str, object]
) -> list[str]:
    """Give each block-style action item without an id the next free `AI-n`."""
    items = data.get("action_items")
    if not isinstance(items, list):
        return lines
    used = {str(item.get("id")) for item in items if isinstance(item, dict) and item.get("id")}
    number = 1
    inserts: dict[int, list[str]] = {}
    for position, item in enumerate(items):
        line = lines_of.get(f"action_items.{position}")
        if not isinstance(item, dict) or item.get("id") or line is None:
            continue
        match = _ITEM.match(lines[line])
        if match is None or match.group("rest").startswith("{"):
            continue
        while f"AI-{number}" in used:
            number += 1
        used.add(f"AI-{number}")
        indent = match.group("indent") + " " + match.group("space")
        inserts[line] = [
            f"{match.group('indent')}-{match.group('space')}id: AI-{number}",
            indent + match.group("rest"),
        ]
    return [new for index, old in enumerate(lines) for new in inserts.get(index, [old])]


def _sorted_fields(lines: list[str]) -> list[str]:
    """Top-level fields in the order of docs/format.md, each with its comments and lines."""
    blocks: list[tuple[str, list[str]]] = []
    pending: list[str] = []
    for line in lines:
        key = _KEY.match(line)
        if key:
            blocks.append((key.group(1), [*pending, line]))
            pending = []
        elif line.startswith(("#", " ", "\t")) or not line.strip():
            if blocks and line.startswith((" ", "\t")):
                blocks[-1][1].extend([*pending, line])
                pending = []
            else:
                pending.append(line)
        elif blocks:  # `key:` followed by `- item` at the same indentation
            blocks[-1][1].extend([*pending, line])
            pending = []
        else:
            return lines  # not plain `key: value` YAML: leave the order alone
    order = {name: position for position, name in enumerate(KNOWN_FIELDS)}
    ranked = sorted(enumerate(blocks), key=lambda b: (order.get(b[1][0], len(order)), b[0]))
    return [line for _, (_, block) in ranked for line in block] + pending


def fix_paths(roots: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """Fix every postmortem under `roots` in place; yields (path, unified diff) per change."""
    for root in roots:
        for path, display in files.iter_files(root) if root.exists() else []:
            try:
                text = files.read_text(path, display)
            except (MalformedPostmortem, OSError):
                continue  # lint reports unreadable files
            fixed = fix_text(text, path.stem)
            if fixed == text:
                continue
            path.write_text(fixed, encoding="utf-8")
            diff = difflib.unified_diff(
                text.splitlines(keepends=True),
                fixed.splitlines(keepends=True),
                fromfile=f"a/{display}",
                tofile=f"b/{display}",
            )
            yield path, "".join(diff)
