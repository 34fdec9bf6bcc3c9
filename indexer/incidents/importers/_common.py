"""What every importer shares: reading JSON, timestamps, severities and service names.

Vendor exports arrive as their APIs page them: one JSON document, several
pages concatenated by a shell loop, or one document per line. `documents`
reads all three. Times come as ISO 8601 with an offset, as epoch
milliseconds (Opsgenie), or naive with the zone given once for the whole
export (PagerDuty Analytics `time_zone`); `Options.timezone` covers files
written in local time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from indexer.format.postmortem import parse_timestamp
from indexer.incidents.model import Incident

_SLUG = re.compile(r"[^a-z0-9]+")
# Epoch milliseconds between 2001 and 2286: anything else is not a time we believe.
_EPOCH_MS = (10**12, 10**13)

# PagerDuty urgency when an incident has no priority (documented in docs/metrics.md).
DEFAULT_URGENCY = {"high": "SEV2", "low": "SEV4"}
_CANONICAL = frozenset(("SEV1", "SEV2", "SEV3", "SEV4"))
_WORDS = {"critical": 1, "high": 2, "major": 2, "medium": 3, "moderate": 3, "low": 4, "minor": 4}


class ImportFormatError(ValueError):
    """The whole file is unreadable; the message says why and is safe to show."""


class RowError(ValueError):
    """One record is unusable; the importer reports it and goes on."""


@dataclass(frozen=True)
class Options:
    """How to read what a file does not say: local times' zone, urgency -> severity."""

    timezone: dt.tzinfo | None = None
    urgency: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_URGENCY))


def zone(name: str) -> dt.tzinfo:
    """An IANA time zone by name; ImportFormatError names a wrong one."""
    try:
        return zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImportFormatError(
            f"unknown time zone {name[:100]!r}; use an IANA name like Europe/Berlin"
        ) from None


def urgency_rule(text: str) -> dict[str, str]:
    """`high=SEV2,low=SEV4` -> {"high": "SEV2", "low": "SEV4"}; a wrong pair names itself."""
    rule: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = pair.partition("=")
        level = severity(value)
        if not name.strip() or level is None:
            raise ImportFormatError(f"urgency rule {pair!r}: expected urgency=SEV1..SEV4")
        rule[name.strip().lower()] = level
    return rule


@dataclass
class Parsed:
    """(position, incident) pairs, (position, reason) errors and warnings; position is a line
    or record index."""

    incidents: list[tuple[int, Incident]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)


def load_json(data: bytes) -> Any:
    try:
        return json.loads(_text(data))
    except json.JSONDecodeError as error:
        raise ImportFormatError(
            f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:  # the json module recurses once per nesting level
        raise ImportFormatError("JSON is nested too deeply to be an incident export") from None


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFormatError("file is not UTF-8 text") from None


def documents(data: bytes) -> list[Any]:
    """Every JSON document in the file: one, several concatenated, or one per line."""
    text = _text(data)
    try:
        return [json.loads(text)]
    except json.JSONDecodeError as error:
        if error.msg != "Extra data":
            raise ImportFormatError(
                f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
            ) from None
    except RecursionError:
        raise ImportFormatError("JSON is nested too deeply to be an incident export") from None
    decoder, position = json.JSONDecoder(), 0
    found: list[Any] = []
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return found
        try:
            document, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise ImportFormatError(
                f"not valid JSON in document {len(found) + 1}: {error.msg} at line "
                f"{error.lineno} column {error.colno}"
            ) from None
        except RecursionError:
            raise ImportFormatError("JSON is nested too deeply to be an incident export") from None
        found.append(document)


def records(document: Any, keys: tuple[str, ...], what: str) -> list[Any]:
    """The list of records in a vendor export: a bare list, or the first of `keys` present."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in keys:
            value = document.get(key)
            if isinstance(value, list):
                return value
            if isinstance(value, dict):
                return [value]
    expected = " or ".join(f'"{key}"' for key in keys)
    raise ImportFormatError(f"expected {what}: a JSON list or an object with {expected}")


def each(
    items: list[Any],
    build: Callable[[dict[str, Any]], Incident],
    parsed: Parsed | None = None,
    start: int = 0,
) -> Parsed:
    """Build an incident per JSON record; a record that fails is reported by its index."""
    parsed = parsed or Parsed()
    for offset, item in enumerate(items):
        position = start + offset
        try:
            if not isinstance(item, dict):
                raise RowError("record is not a JSON object")
            parsed.incidents.append((position, build(item)))
        except RowError as error:
            parsed.errors.append((position, str(error)))
    return parsed


def timestamp(
    value: Any, name: str, *, required: bool = False, naive: dt.tzinfo | None = None
) -> dt.datetime | None:
    """ISO 8601 with a time zone, or epoch milliseconds; naive ones only with `naive` given."""
    if value is None or value == "":
        if required:
            raise RowError(f"{name} is missing")
        return None
    parsed = parse_timestamp(value) if isinstance(value, str) else None
    if parsed is not None:
        return parsed.astimezone(dt.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not _EPOCH_MS[0] <= value < _EPOCH_MS[1]:
            raise RowError(f"{name} is not a time in epoch milliseconds: {value!r}")
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    if parsed is None and naive is not None and isinstance(value, str):
        parsed = _naive(value, naive)
    if parsed is None:
        hint = "" if naive else " (give the file's time zone for local times)"
        raise RowError(f"{name} is not an ISO 8601 timestamp with a time zone: {value!r}{hint}")
    return parsed.astimezone(dt.UTC)


def _naive(value: str, tz: dt.tzinfo) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        return parsed
    return parsed.replace(tzinfo=tz)


def plus_seconds(start: dt.datetime | None, seconds: Any, name: str) -> dt.datetime | None:
    if start is None or seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise RowError(f"{name} is not a number of seconds: {seconds!r}")
    return start + dt.timedelta(seconds=seconds)


def text(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise RowError(f"{name} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowError(f"{name} is not a string: {value!r}")
    return str(value).strip()


def service_id(name: Any) -> str | None:
    """Vendor service names ("Orders API") become taxonomy-style ids ("orders-api")."""
    if not isinstance(name, str) or not name.strip():
        return None
    return _SLUG.sub("-", name.strip().lower()).strip("-") or None


def service_keys(*candidates: Any) -> tuple[str, ...]:
    """The names and ids a record gives for its service, most specific first, no repeats."""
    keys: list[str] = []
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip() and candidate.strip() not in keys:
            keys.append(candidate.strip())
    return tuple(keys)


def severity(value: Any) -> str | None:
    """SEV1..SEV4 from `SEV2`, `sev-2`, `P2`, `2` or a word (critical, high, medium, low).

    P5 and lower count as SEV4 (Opsgenie has five priorities); SEV5 is no severity.
    Every importer, the CSV included, reads severities here.
    """
    if value in _CANONICAL:
        return str(value)
    if value is None or isinstance(value, bool):
        return None
    word = str(value).strip().lower()
    if word in _WORDS:
        return f"SEV{_WORDS[word]}"
    match = re.fullmatch(r"(sev|p)?[-_ ]?(\d)", word)
    if not match or int(match[2]) < 1 or (match[1] == "sev" and int(match[2]) > 4):
        return None
    return f"SEV{min(int(match[2]), 4)}"


def tagged(tags: Any, key: str) -> str | None:
    """The value of a `key:value` tag, the convention for services and error classes in tags."""
    if not isinstance(tags, list):
        return None
    for tag in tags:
        if isinstance(tag, str) and tag.lower().startswith(f"{key}:"):
            return tag.split(":", 1)[1].strip() or None
    return None
