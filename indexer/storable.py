"""Text both databases can store: the one check every door runs on what it takes in.

PostgreSQL's text and JSON types cannot hold a NUL character (`\\x00`), and no
driver can encode a lone UTF-16 surrogate (`\\ud800`, which JSON's `\\u` escapes
and Python strings allow); SQLite takes both. Text is checked where it enters
(a query parameter, a form field, an imported row, a postmortem file) and
refused there as bad input naming the field, so both databases behave the
same and a write never fails half-way with a driver error.

    problem = unstorable_reason(value)            # None, or why it cannot be stored
    check_storable("service", value)              # raises UnstorableText
    first_problem(row)                            # "'title' contains a NUL ...", or None
    Annotated[str, AfterValidator(storable_text)] # a pydantic field refusing them
    fields = unstorable_fields(row)               # ["title", "tags.2"], for nested data
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class UnstorableText(ValueError):
    """A value holds text the database cannot store; the message names the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"'{field}' {reason}")
        self.field = field
        self.reason = reason


def unstorable_reason(text: str) -> str | None:
    """Why `text` cannot be stored (the first offending character), or None."""
    match = _UNSTORABLE.search(text)
    if match is None:
        return None
    if match.group() == "\x00":
        return f"contains a NUL character (at position {match.start() + 1})"
    return f"contains an unpaired surrogate character (at position {match.start() + 1})"


def check_storable(field: str, value: Any) -> None:
    """Raise `UnstorableText` naming the first field of `value` (nested too) it cannot store."""
    for path in unstorable_fields(value, field):
        reason = _reason_at(value, path.removeprefix(field).lstrip("."))
        raise UnstorableText(path, reason or "cannot be stored")


def first_problem(value: Mapping[str, Any]) -> str | None:
    """`'field' contains a NUL character (at position 3)` for the first bad field, or None."""
    if not _may_hold_unstorable(value):
        return None
    try:
        for key, item in value.items():
            check_storable(key, item)
    except UnstorableText as error:
        return str(error)
    return None


def _may_hold_unstorable(value: Any) -> bool:
    """False when no text in `value` can be unstorable: one pass of the C JSON encoder
    instead of a walk in Python, which imports run once per row. JSON escapes a NUL
    as `\\u0000` and keeps a lone surrogate as it is; a false alarm only means the walk."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return True
    return "\\u0000" in text or _UNSTORABLE.search(text) is not None


def storable_text(value: str) -> str:
    """A pydantic `AfterValidator`: the field's own name is added by pydantic."""
    reason = unstorable_reason(value)
    if reason is not None:
        raise ValueError(reason)
    return value


def unstorable_fields(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every text (keys included) in `value` that cannot be stored."""
    found: list[str] = []
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            found.append(prefix or "value")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(key, str) and _UNSTORABLE.search(key):
                found.append(path)
            else:
                found += unstorable_fields(item, path)
    elif isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            found += unstorable_fields(item, f"{prefix}.{position}" if prefix else str(position))
    return found


def _reason_at(value: Any, path: str) -> str | None:
    for part in path.split(".") if path else []:
        if isinstance(value, Mapping):
            value = value.get(part, part)
        elif isinstance(value, (list, tuple)) and part.isdigit():
            value = value[int(part)]
    return unstorable_reason(value) if isinstance(value, str) else None
