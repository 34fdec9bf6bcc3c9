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
# Epoch times between 2001 and 2286 in seconds, milliseconds, microseconds or
# nanoseconds: the ranges do not overlap, so the magnitude says the unit (Opsgenie
# sends `createdAt` in milliseconds and `updatedAt` in nanoseconds in one body).
_EPOCH_UNITS = ((10**9, 1), (10**12, 10**3), (10**15, 10**6), (10**18, 10**9))
# Ruby's Time#to_s, as FireHydrant's webhooks write times: `2023-07-25 13:34:49 UTC`.
_RUBY_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) (UTC|[+-]\d{4})")

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


def parse_records(
    data: bytes,
    source: str,
    keys: tuple[str, ...],
    what: str,
    build: Callable[[dict[str, Any]], Incident],
) -> Parsed:
    """Every record of every document (under the first of `keys` present), built by `build`;
    another tool's file is refused by name, a record that fails is reported by its index."""
    parsed, position = Parsed(), 0
    for document in documents(data):
        refuse_foreign(document, source, what)
        items = records(document, keys, what)
        each(items, build, parsed, position)
        position += len(items)
    return parsed


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
    """ISO 8601 or Ruby-style with a time zone, or an epoch time (seconds, milliseconds,
    microseconds or nanoseconds, told apart by magnitude); naive ones only with `naive` given."""
    if value is None or value == "":
        if required:
            raise RowError(f"{name} is missing")
        return None
    parsed = _text_time(value) if isinstance(value, str) else None
    if parsed is not None:
        return parsed.astimezone(dt.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _epoch(value, name)
    if parsed is None and naive is not None and isinstance(value, str):
        parsed = _naive(value, naive)
    if parsed is None:
        hint = "" if naive else " (give the file's time zone for local times)"
        raise RowError(f"{name} is not an ISO 8601 timestamp with a time zone: {value!r}{hint}")
    return parsed.astimezone(dt.UTC)


def _text_time(value: str) -> dt.datetime | None:
    parsed = parse_timestamp(value)
    if parsed is not None:
        return parsed
    match = _RUBY_TIME.fullmatch(value.strip())
    if match is None:
        return None
    offset = "+00:00" if match[3] == "UTC" else f"{match[3][:3]}:{match[3][3:]}"
    try:
        return dt.datetime.fromisoformat(f"{match[1]}T{match[2]}{offset}")
    except ValueError:
        return None


def _epoch(value: float, name: str) -> dt.datetime:
    for low, per_second in _EPOCH_UNITS:
        if low <= value < low * 10:
            if isinstance(value, int):  # integer division keeps nanoseconds exact
                seconds, rest = divmod(value, per_second)
                return dt.datetime.fromtimestamp(seconds, dt.UTC) + dt.timedelta(
                    microseconds=rest * 10**6 // per_second
                )
            return dt.datetime.fromtimestamp(value / per_second, dt.UTC)
    raise RowError(
        f"{name} is not an epoch time between 2001 and 2286 in seconds, milliseconds, "
        f"microseconds or nanoseconds: {value!r}"
    )


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
    Every importer, the CSV included, reads severities here. An object (FireHydrant's
    `{"slug": "SEV2", ...}`, PagerDuty's priority reference) is read by its name.
    """
    if isinstance(value, dict):
        for key in ("slug", "name", "summary", "value", "description"):
            found = severity(value.get(key)) if not isinstance(value.get(key), dict) else None
            if found is not None:
                return found
        return None
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


def _first(value: Any) -> Any:
    """The first record of a list, or the value itself."""
    return value[0] if isinstance(value, list) and value else value


def _has(value: Any, *keys: str) -> bool:
    return isinstance(value, dict) and all(key in value for key in keys)


# Marks of each tool's exports and webhooks that no other tool's share: a file given
# under the wrong --source is refused by name instead of stored with empty fields.
_SHAPES: tuple[tuple[str, str, Callable[[dict[str, Any]], bool]], ...] = (
    (
        "statuspage",
        "a Statuspage webhook (page and incident with incident_updates)",
        lambda d: (
            _has(d.get("page"), "status_indicator")
            or _has(_first(d.get("incident")), "incident_updates", "impact")
        ),
    ),
    (
        "incident-io",
        "an incident.io incident (reference and incident_status)",
        lambda d: (
            _has(_first(d.get("incidents") or d.get("incident")), "reference", "incident_status")
            or str(d.get("event_type", "")).startswith(("public_incident.", "private_incident."))
        ),
    ),
    (
        "alertmanager",
        "an Alertmanager notification (version 4 with alerts)",
        lambda d: str(d.get("version")) == "4" and isinstance(d.get("alerts"), list),
    ),
    (
        "grafana-oncall",
        "a Grafana OnCall webhook (alert_group)",
        lambda d: isinstance(d.get("alert_group"), dict),
    ),
    (
        "opsgenie",
        "an Opsgenie alert or webhook (tinyId)",
        lambda d: _has(d.get("alert"), "alertId") or _has(_first(d.get("data")), "tinyId"),
    ),
    (
        "pagerduty",
        "a PagerDuty incident or v3 event",
        lambda d: (
            _has(d.get("event"), "event_type", "resource_type")
            or _has(_first(d.get("incidents") or d.get("incident")), "incident_number")
        ),
    ),
    (
        "firehydrant",
        "a FireHydrant incident (milestones or lifecycle_phases)",
        lambda d: (
            _has(_first(_incidents_of(d)), "lifecycle_phases")
            or _has(_first(_incidents_of(d)), "milestones", "current_milestone")
        ),
    ),
)


def _incident_io(document: dict[str, Any]) -> bool:
    record = _first(document.get("incidents") or document.get("incident"))
    event = str(document.get("event_type", ""))
    return _has(record, "reference", "incident_status") or event.startswith(
        ("public_incident.", "private_incident.")
    )


def _incidents_of(document: dict[str, Any]) -> Any:
    data = document.get("data")
    return data.get("incident") if isinstance(data, dict) else data


def refuse_foreign(document: Any, source: str, expected: str) -> None:
    """ImportFormatError naming the other tool when `document` is recognisably its shape.

    A bare list of records (an export written by a script or a tap) is judged
    by its records, as the list envelope of any tool would hold them.
    """
    if isinstance(document, list):
        document = {"incidents": document, "data": document}
    if not isinstance(document, dict):
        return
    for name, shape, matches in _SHAPES:
        if name != source and matches(document):
            raise ImportFormatError(
                f"this looks like {shape}, not {expected}; "
                f"import it with the right source (not {source!r})"
            )
