"""The postmortem format: turning a file's text into a checked `Postmortem`.

A file is *malformed* (raises `MalformedPostmortem`) only when its front matter
cannot be read or it lacks a title or a date. Every other problem is a
`Finding` attached to the result, and the postmortem is still indexed, with
invalid values left out rather than guessed.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import PurePosixPath
from typing import Any, Literal

from indexer import storable
from indexer.format import frontmatter, markdown, visibility

Level = Literal["error", "warning"]

SCHEMA_VERSION = 1
STATUSES = ("draft", "in_review", "published")
VISIBILITIES = ("internal", "restricted")
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
TYPES = ("outage", "degradation", "data", "security", "near_miss")
DETECTION_METHODS = ("alert", "customer_report", "internal_report", "synthetic", "other")
MATURITIES = ("automated", "runbook", "manual", "none")
ACTION_TYPES = ("detect", "mitigate", "prevent", "process", "other")
ACTION_STATUSES = ("open", "in_progress", "done", "wont_do")
PRIORITIES = ("P0", "P1", "P2", "P3", "P4")
TIMESTAMP_FIELDS = ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")
REF_SOURCES = ("pagerduty", "opsgenie", "firehydrant", "jira")
KNOWN_FIELDS = (
    "schema", "id", "title", "date", "status", "visibility", "audience", "severity", "type",
    "services", "teams", "tags", "authors", "owner", "error_classes", "contributing_factors",
    "trigger", "detection", "timestamps", "impact", "mitigation_maturity", "external_refs",
    "related", "duplicate_of", "action_items", "source_url", "suggested", "review",
)  # fmt: skip
SUGGESTION_KINDS = ("services", "error_classes", "contributing_factors")
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
# A day, optionally with the time and zone that Jekyll (`2015-10-21 14:54:00 +0000`),
# Hugo (`2015-10-21T14:54:00Z`) and other site generators write in `date`.
_DATE = re.compile(
    r"(\d{4}-\d{2}-\d{2})"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?[ ]?(?:Z|UTC|[+-]\d{2}:?\d{2})?)?\Z",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    """One problem in one file, reported as `path:line: level: message`."""

    path: str
    line: int
    level: Level
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.level}: {self.message}"


class MalformedPostmortem(Exception):
    """The file cannot be indexed at all."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.finding = Finding(path, line, "error", "malformed", message)


@dataclass
class ActionItem:
    id: str
    title: str
    type: str | None = None
    priority: str | None = None
    owner: str | None = None
    due: date | None = None
    status: str = "open"
    ticket: str | None = None
    line: int = 1


@dataclass
class Postmortem:
    """A parsed postmortem; `findings` holds its per-file lint problems."""

    id: str
    path: str
    title: str
    date: date
    content_hash: str
    body: str
    body_line: int = 1
    status: str = "published"
    visibility: str = "internal"
    audience: list[str] = field(default_factory=list)
    severity: str | None = None
    type: str | None = None
    services: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    owner: str | None = None
    source_url: str | None = None
    error_classes: list[str] = field(default_factory=list)
    contributing_factors: list[str] = field(default_factory=list)
    trigger: str | None = None
    detection_method: str | None = None
    detection_alert: str | None = None
    timestamps: dict[str, datetime] = field(default_factory=dict)
    customer_facing: bool | None = None
    impact_summary: str | None = None
    slo: str | None = None
    error_budget_minutes: float | None = None
    mitigation_maturity: str | None = None
    external_refs: dict[str, list[str]] = field(default_factory=dict)
    related: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    action_items: list[ActionItem] = field(default_factory=list)
    front_matter: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @cached_property
    def sections(self) -> list[markdown.Section]:
        """The body's `##` sections, parsed once however many consumers ask."""
        return markdown.sections(self.body)

    def line_of(self, key: str) -> int:
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return 1


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_date(value: Any) -> date | None:
    """A `YYYY-MM-DD` date (a time and zone after it are allowed), or None."""
    match = _DATE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 timestamp with a time zone, or None (naive times are refused)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None or ("T" not in text.upper() and " " not in text):
        return None
    return parsed


class _Reader:
    """Reads typed fields out of front matter, recording findings as it goes."""

    def __init__(self, doc: frontmatter.Document, path: str) -> None:
        self.doc = doc
        self.path = path
        self.findings: list[Finding] = []

    def report(self, key: str, message: str, level: Level = "error", code: str = "") -> None:
        line = self.doc.line_of(key)
        self.findings.append(Finding(self.path, line, level, code or "invalid-value", message))

    def get(self, key: str) -> Any:
        value: Any = self.doc.data
        for part in key.split("."):
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif isinstance(value, dict):
                value = value.get(part)
            else:
                return None
        return value

    def text(self, key: str) -> str | None:
        value = self.get(key)
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            self.report(key, f"'{key}' must be text, not a {type(value).__name__}")
            return None
        return str(value).strip() or None

    def choice(self, key: str, choices: tuple[str, ...]) -> str | None:
        value = self.text(key)
        if value is None or value in choices:
            return value
        self.report(key, f"'{key}' is '{value}'; expected one of: {', '.join(choices)}")
        return None

    def strings(self, key: str) -> list[str]:
        value = self.get(key)
        if value is None:
            return []
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or any(isinstance(v, (dict, list)) for v in value):
            self.report(key, f"'{key}' must be a list of text values")
            return []
        return [str(v).strip() for v in value if v is not None and str(v).strip()]


def parse(text: str, path: str | PurePosixPath) -> Postmortem:
    """Parse one postmortem file. Raises `MalformedPostmortem` if it cannot be indexed."""
    path = str(path)
    _check_storable(text, path)
    try:
        doc = frontmatter.parse(text)
    except frontmatter.FrontMatterError as error:
        raise MalformedPostmortem(path, error.line, error.message) from None
    for key in storable.unstorable_fields(doc.data):  # a YAML escape such as "\0"
        raise MalformedPostmortem(
            path,
            doc.line_of(key),
            f"{storable.first_problem({key: _value_at(doc.data, key)})}; "
            "the database cannot store it, so the file was not indexed",
        )
    reader = _Reader(doc, path)
    title = reader.text("title")
    if not title:
        raise MalformedPostmortem(path, doc.line_of("title", 1), "missing required field 'title'")
    timestamps = _timestamps(reader)
    day = _date(reader, timestamps, path)
    stem = PurePosixPath(path).stem
    identifier = reader.text("id") or stem
    if not ID_PATTERN.match(identifier):
        # An id names URLs, index terms and links: a file without a valid one is not indexed.
        where = "id" if reader.get("id") is not None else "file name"
        raise MalformedPostmortem(
            path,
            doc.line_of("id", 1),
            f"id '{identifier[:80]}' (from the {where}) may only use letters, digits, "
            "'.', '_' and '-', starting with a letter or digit; the file was not indexed",
        )
    postmortem = Postmortem(
        id=identifier,
        path=path,
        title=title,
        date=day,
        content_hash=content_hash(text),
        body=doc.body,
        body_line=doc.body_line,
        status=reader.choice("status", STATUSES) or "published",
        visibility=_visibility(reader),
        audience=reader.strings("audience"),
        severity=_severity(reader),
        type=reader.choice("type", TYPES),
        services=reader.strings("services"),
        teams=reader.strings("teams"),
        tags=[tag.lower() for tag in reader.strings("tags")],
        authors=reader.strings("authors"),
        owner=reader.text("owner"),
        source_url=reader.text("source_url"),
        error_classes=reader.strings("error_classes"),
        contributing_factors=reader.strings("contributing_factors"),
        trigger=reader.text("trigger"),
        detection_method=reader.choice("detection.method", DETECTION_METHODS),
        detection_alert=reader.text("detection.alert"),
        timestamps=timestamps,
        customer_facing=_boolean(reader, "impact.customer_facing"),
        impact_summary=reader.text("impact.summary"),
        slo=reader.text("impact.slo"),
        error_budget_minutes=_minutes(reader),
        mitigation_maturity=reader.choice("mitigation_maturity", MATURITIES),
        external_refs=_external_refs(reader),
        related=reader.strings("related"),
        duplicate_of=reader.text("duplicate_of"),
        action_items=_action_items(reader),
        front_matter=doc.data,
        lines=doc.lines,
    )
    if postmortem.visibility == "restricted" and not postmortem.audience:
        reader.report(
            "audience" if reader.get("audience") is not None else "visibility",
            "a restricted postmortem needs an 'audience' (the groups that may read it); "
            "without one it is shown to nobody",
            code="no-audience",
        )
    _check_structure(reader)
    postmortem.findings = reader.findings
    return postmortem


def _check_storable(text: str, path: str) -> None:
    """A file holding text the database cannot store (a NUL) is not indexed, and says where."""
    reason = storable.unstorable_reason(text)
    if reason is None:
        return
    position = next(i for i, ch in enumerate(text) if storable.unstorable_reason(ch))
    line = text.count("\n", 0, position) + 1
    raise MalformedPostmortem(
        path,
        line,
        f"the file {reason.replace('(at position', '(at character')}; "
        "the database cannot store it, so the file was not indexed",
    )


def _value_at(data: Any, key: str) -> Any:
    for part in key.split("."):
        data = data[int(part)] if isinstance(data, list) else data.get(part, part)
    return data


def _visibility(reader: _Reader) -> str:
    """`internal` only when nothing in the front matter suggests otherwise.

    A mistyped value (`Restricted`, `private`, a list), an empty one, a
    misspelled or miscased key, or an `audience` beside no `visibility:
    restricted` must never publish a postmortem its author meant to hide: each
    is a lint error, and the postmortem is served as restricted to its
    `audience` (nobody, when it has none) until the file is fixed.
    """
    signs = visibility.signs(reader.doc.data, reader.doc.lines, reader.doc.key_styles)
    for sign in signs:
        reader.report(
            sign.key,
            f"{sign.message}. Until it is fixed the postmortem is treated as restricted "
            "(shown only to its audience, or to nobody without one)",
            code="invalid-visibility",
        )
    raw = reader.get("visibility")
    if signs or raw == "restricted" or (isinstance(raw, str) and raw.strip() == "restricted"):
        return "restricted"
    return "internal"


def _date(reader: _Reader, timestamps: dict[str, datetime], path: str) -> date:
    raw = reader.get("date")
    if raw is not None:
        day = parse_date(raw)
        if day is not None:
            return day
        reader.report("date", date_problem("date", raw))
    if "started_at" in timestamps:
        return timestamps["started_at"].date()
    line = reader.doc.line_of("date", 1)
    if raw is not None:
        raise MalformedPostmortem(path, line, date_problem("date", raw))
    raise MalformedPostmortem(
        path, line, "missing required field 'date' (or timestamps.started_at)"
    )


_DAY_PARTS = re.compile(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})")
_MONTHS = (
    "January February March April May June July August September October November December"
).split()


def date_problem(key: str, raw: Any) -> str:
    """What is wrong with a date that did not parse, in words: "February has 28 days in 2026"."""
    wrong_day = calendar_problem(raw)
    if wrong_day:
        return f"'{key}' is '{raw}': {wrong_day}"
    return f"'{key}' is '{raw}'; expected a date like 2025-03-14"


def calendar_problem(raw: Any) -> str | None:
    """Why a value shaped like YYYY-MM-DD is no day of the calendar (None: it is, or no date)."""
    parts = _DAY_PARTS.match(raw) if isinstance(raw, str) else None
    if parts is None:
        return None
    year, month, day = (int(part) for part in parts.groups())
    if not 1 <= month <= 12:
        return f"there is no month {month} (months are 01 to 12)"
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return f"{_MONTHS[month - 1]} has {days} days in {year}"
    return None


def _timestamps(reader: _Reader) -> dict[str, datetime]:
    raw = reader.get("timestamps")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        reader.report(
            "timestamps", "'timestamps' must be a mapping of started_at, detected_at, ..."
        )
        return {}
    result: dict[str, datetime] = {}
    for name, value in raw.items():
        key = f"timestamps.{name}"
        if name not in TIMESTAMP_FIELDS:
            reader.report(
                key,
                f"unknown timestamp '{name}'; expected one of: " + ", ".join(TIMESTAMP_FIELDS),
                "warning",
                "unknown-field",
            )
            continue
        if value is None:
            continue
        parsed = parse_timestamp(value)
        if parsed is None:
            wrong_day = calendar_problem(value)
            reader.report(
                key,
                f"'{key}' is '{value}': {wrong_day}"
                if wrong_day
                else f"'{key}' is '{value}'; expected ISO 8601 with a time zone, "
                "like 2025-03-14T18:02:00+00:00",
                code="timestamp",
            )
            continue
        result[name] = parsed
    return result


def _severity(reader: _Reader) -> str | None:
    value = reader.text("severity")
    if value is None:
        return None
    normalised = value.upper().replace(" ", "")
    if normalised in SEVERITIES:
        return normalised
    reader.report("severity", f"'severity' is '{value}'; expected one of: {', '.join(SEVERITIES)}")
    return None


def _boolean(reader: _Reader, key: str) -> bool | None:
    value = reader.get(key)
    if value is None or isinstance(value, bool):
        return value
    reader.report(key, f"'{key}' is '{value}'; expected true or false")
    return None


def _minutes(reader: _Reader) -> float | None:
    value = reader.get("impact.error_budget_minutes")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        reader.report(
            "impact.error_budget_minutes",
            f"'impact.error_budget_minutes' is '{value}'; expected a number >= 0",
        )
        return None
    return float(value)


def _external_refs(reader: _Reader) -> dict[str, list[str]]:
    raw = reader.get("external_refs")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        reader.report("external_refs", "'external_refs' must map a tool name to a list of ids")
        return {}
    refs = {}
    for source in raw:
        if source not in REF_SOURCES:
            reader.report(
                f"external_refs.{source}",
                f"unknown external_refs source '{source}'; "
                f"expected one of: {', '.join(REF_SOURCES)}",
                "warning",
                "unknown-field",
            )
        refs[source] = reader.strings(f"external_refs.{source}")
    return refs


def _action_items(reader: _Reader) -> list[ActionItem]:
    raw = reader.get("action_items")
    if raw is None:
        return []
    if not isinstance(raw, list):
        reader.report("action_items", "'action_items' must be a list")
        return []
    items = []
    seen: dict[str, int] = {}
    for position, entry in enumerate(raw):
        key = f"action_items.{position}"
        if not isinstance(entry, dict):
            reader.report(
                key, f"action item {position + 1} must be a mapping with at least a title"
            )
            continue
        title = reader.text(f"{key}.title")
        if not title:
            reader.report(key, f"action item {position + 1} has no title")
            continue
        due_raw = reader.get(f"{key}.due")
        due = parse_date(due_raw)
        if due_raw is not None and due is None:
            reader.report(
                f"{key}.due", f"action item due date '{due_raw}' is not a YYYY-MM-DD date"
            )
        given = reader.text(f"{key}.id")
        if given is not None and given in seen:
            reader.report(
                f"{key}.id",
                f"action item id '{given}' is already used on line {seen[given]}; "
                "give each action item its own id",
                code="duplicate-action-id",
            )
        elif given is not None:
            seen[given] = reader.doc.line_of(f"{key}.id")
        items.append(
            ActionItem(
                id=given or f"AI-{position + 1}",
                title=title,
                type=reader.choice(f"{key}.type", ACTION_TYPES),
                priority=reader.choice(f"{key}.priority", PRIORITIES),
                owner=reader.text(f"{key}.owner"),
                due=due,
                status=reader.choice(f"{key}.status", ACTION_STATUSES) or "open",
                ticket=reader.text(f"{key}.ticket"),
                line=reader.doc.line_of(key),
            )
        )
    return items


def _check_structure(reader: _Reader) -> None:
    schema = reader.get("schema")
    if schema is not None and schema != SCHEMA_VERSION:
        reader.report(
            "schema", f"'schema' is {schema!r}; this version reads schema {SCHEMA_VERSION}"
        )
    for mapping in ("detection", "impact"):
        if reader.get(mapping) is not None and not isinstance(reader.get(mapping), dict):
            reader.report(mapping, f"'{mapping}' must be a mapping")
