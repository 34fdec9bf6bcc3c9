"""What every importer shares: reading JSON, timestamps, severities and service names."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from indexer.format.postmortem import parse_timestamp
from indexer.incidents.model import Incident

_SLUG = re.compile(r"[^a-z0-9]+")


class ImportFormatError(ValueError):
    """The whole file is unreadable; the message says why and is safe to show."""


class RowError(ValueError):
    """One record is unusable; the importer reports it and goes on."""


@dataclass
class Parsed:
    """(position, incident) pairs and (position, reason) errors; position is a line or index."""

    incidents: list[tuple[int, Incident]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def load_json(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ImportFormatError("file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ImportFormatError(
            f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:  # the json module recurses once per nesting level
        raise ImportFormatError("JSON is nested too deeply to be an incident export") from None


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


def each(items: list[Any], build: Callable[[dict[str, Any]], Incident]) -> Parsed:
    """Build an incident per JSON record; a record that fails is reported by its index."""
    parsed = Parsed()
    for position, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise RowError("record is not a JSON object")
            parsed.incidents.append((position, build(item)))
        except RowError as error:
            parsed.errors.append((position, str(error)))
    return parsed


def timestamp(value: Any, name: str, *, required: bool = False) -> dt.datetime | None:
    """An ISO 8601 timestamp with a time zone; a naive or unreadable one is a row error."""
    if value is None or value == "":
        if required:
            raise RowError(f"{name} is missing")
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        raise RowError(f"{name} is not an ISO 8601 timestamp with a time zone: {value!r}")
    return parsed.astimezone(dt.UTC)


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


def severity(value: Any) -> str | None:
    """SEV1..SEV4 from `SEV2`, `sev-2`, `P2` or `2`; P5 and lower count as SEV4."""
    if value is None or isinstance(value, bool):
        return None
    match = re.fullmatch(r"(?:sev|p)?[-_ ]?(\d)", str(value).strip().lower())
    if not match or int(match[1]) < 1:
        return None
    return f"SEV{min(int(match[1]), 4)}"


def tagged(tags: Any, key: str) -> str | None:
    """The value of a `key:value` tag, the convention for services and error classes in tags."""
    if not isinstance(tags, list):
        return None
    for tag in tags:
        if isinstance(tag, str) and tag.lower().startswith(f"{key}:"):
            return tag.split(":", 1)[1].strip() or None
    return None
