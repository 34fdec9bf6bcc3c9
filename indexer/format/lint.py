"""The linter: everything `pml lint` checks, and its three output formats."""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, timedelta
from pathlib import Path

from indexer.format import files as library
from indexer.format import headings, markdown
from indexer.format.postmortem import (
    KNOWN_FIELDS,
    SUGGESTION_KINDS,
    TIMESTAMP_FIELDS,
    Finding,
    Postmortem,
)
from indexer.format.taxonomy import Taxonomy, suggest

DETECTION_GAP = timedelta(minutes=5)
PLACEHOLDER = "TODO"
_PLACEHOLDER = re.compile(r"\bTODO\b")
_TABLE_ROW = re.compile(r"\s*\|")
_LEADING_PLACEHOLDER = re.compile(r"\s*(?:[-*+]\s+|\d+[.)]\s+|>\s*)?TODO\b")
RESTRICTED_HIDDEN = "restricted-hidden"


def lint_postmortem(postmortem: Postmortem, taxonomy: Taxonomy) -> list[Finding]:
    """The findings of one postmortem on its own (library-wide checks come later)."""
    findings = list(postmortem.findings)
    checks = (
        _unknown_fields,
        _empty_fields,
        _imported,
        _vocabulary,
        _teams,
        _dates_agree,
        _timestamp_order,
        _action_items,
        _detection_gap,
        _sections,
    )
    for check in checks:
        findings.extend(check(postmortem, taxonomy))
    return findings


def lint_library(postmortems: list[Postmortem], others: Iterable[Postmortem] = ()) -> list[Finding]:
    """Checks across files: duplicate ids and links to postmortems that do not exist.

    `others` are the rest of the library the linted files belong to: links to
    them are fine, and an id one of them already uses is a duplicate.
    """
    findings = []
    by_id: dict[str, list[Postmortem]] = defaultdict(list)
    linted = {postmortem.path for postmortem in postmortems}
    for postmortem in [*(o for o in others if o.path not in linted), *postmortems]:
        by_id[postmortem.id].append(postmortem)
    for identifier, owners in by_id.items():
        for duplicate in (o for o in owners[1:] if o.path in linted):
            findings.append(
                _finding(
                    duplicate,
                    "id",
                    "error",
                    "duplicate-id",
                    f"id '{identifier}' is already used by {owners[0].path}",
                )
            )
    for postmortem in postmortems:
        for position, target in enumerate(postmortem.related):
            if target not in by_id:
                findings.append(
                    _finding(
                        postmortem,
                        f"related.{position}",
                        "warning",
                        "unknown-link",
                        _missing(target, by_id),
                    )
                )
        if postmortem.duplicate_of and postmortem.duplicate_of not in by_id:
            findings.append(
                _finding(
                    postmortem,
                    "duplicate_of",
                    "warning",
                    "unknown-link",
                    _missing(postmortem.duplicate_of, by_id),
                )
            )
    return findings


def hidden_while_auth_off(postmortems: list[Postmortem]) -> list[Finding]:
    """A library check for `pml lint` while PML_AUTH=off: restricted ones are served to nobody."""
    return [
        _finding(
            postmortem,
            "visibility",
            "warning",
            RESTRICTED_HIDDEN,
            "restricted postmortems are hidden from everyone while PML_AUTH=off "
            "(set PML_AUTH=proxy or token to show it to its audience)",
        )
        for postmortem in postmortems
        if postmortem.visibility == "restricted"
    ]


def lint_paths(
    paths: Iterable[Path],
    taxonomy: Taxonomy,
    library_checks: Sequence[Callable[[list[Postmortem]], list[Finding]]] = (),
    library_root: Path | None = None,
) -> list[Finding]:
    """Lint files and folders; the result is sorted by file and line.

    With `library_root`, a file or sub-folder is checked as part of that
    library: its `related` links may name any postmortem there.
    """
    findings: list[Finding] = []
    postmortems: list[Postmortem] = []
    for root in paths:
        if not root.exists():
            findings.append(Finding(str(root), 1, "error", "missing", "no such file or folder"))
            continue
        scan = library.scan(root)
        findings.extend(scan.malformed)
        postmortems.extend(scan.postmortems)
    for postmortem in postmortems:
        findings.extend(lint_postmortem(postmortem, taxonomy))
    linted = {Path(postmortem.path).resolve() for postmortem in postmortems}
    others = [
        other
        for other in _library_around(paths, library_root)
        if Path(other.path).resolve() not in linted
    ]
    findings.extend(lint_library(postmortems, others))
    for check in library_checks:
        findings.extend(check(postmortems))
    return sorted(set(findings), key=lambda f: (f.path, f.line, f.level, f.message))


def _library_around(paths: Iterable[Path], root: Path | None) -> list[Postmortem]:
    """The library's other postmortems, when the paths linted are only part of it."""
    if root is None or not root.is_dir():
        return []
    resolved = root.resolve()
    if all(path.exists() and path.resolve() == resolved for path in paths):
        return []  # the whole library is being linted already
    return library.scan(root, display_root=root).postmortems


def format_findings(findings: list[Finding], style: str) -> str:
    """Render findings as `text`, `github` (workflow annotations) or `json`."""
    if style == "json":
        return json.dumps([f.__dict__ for f in findings], indent=2)
    if style == "github":
        return "\n".join(
            f"::{f.level} file={f.path},line={f.line},title={f.code}::{_escape_github(f.message)}"
            for f in findings
        )
    return "\n".join(str(f) for f in findings)


def _escape_github(message: str) -> str:
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _finding(postmortem: Postmortem, key: str, level: str, code: str, message: str) -> Finding:
    assert level in ("error", "warning")
    return Finding(postmortem.path, postmortem.line_of(key), level, code, message)  # type: ignore[arg-type]


def _missing(target: str, known: dict[str, list[Postmortem]]) -> str:
    hint = suggest(target, list(known))
    return f"links to '{target}', which is not in the library" + (
        f"; did you mean '{hint}'?" if hint else ""
    )


def _unknown_fields(postmortem: Postmortem, taxonomy: Taxonomy) -> list[Finding]:
    findings = []
    for key in postmortem.front_matter:
        if key not in KNOWN_FIELDS:
            hint = suggest(key, list(KNOWN_FIELDS))
            message = f"unknown field '{key}'" + (f"; did you mean '{hint}'?" if hint else "")
            findings.append(_finding(postmortem, key, "warning", "unknown-field", message))
    return findings


def _empty_fields(postmortem: Postmortem, taxonomy: Taxonomy) -> list[Finding]:
    """`owner:` with nothing after it reads as filled in at a glance; it is not."""
    findings = []
    for key, value in postmortem.front_matter.items():
        if key in KNOWN_FIELDS and (
            value is None or (isinstance(value, str) and not value.strip())
        ):
            message = f"'{key}' is empty: fill it in or delete the line"
            findings.append(_finding(postmortem, key, "warning", "empty-field", message))
    if postmortem.status == "published" and not postmortem.timestamps:
        findings.append(
            _finding(
                postmortem,
                "status",
                "warning",
                "no-timestamps",
                "published without timestamps: add timestamps.started_at, detected_at, "
                "mitigated_at and resolved_at so the incident counts in time-to-detect "
                "and time-to-resolve",
            )
        )
    return findings


def _imported(postmortem: Postmortem, taxonomy: Taxonomy) -> list[Finding]:
    """What `pml import postmortems` left for a person to decide, as warnings saying what to do."""
    findings = []
    suggested = postmortem.front_matter.get("suggested")
    if isinstance(suggested, dict):
        for kind, values in suggested.items():
            if kind not in SUGGESTION_KINDS:
                message = f"unknown 'suggested.{kind}'; expected: {', '.join(SUGGESTION_KINDS)}"
                findings.append(
                    _finding(postmortem, f"suggested.{kind}", "warning", "unknown-field", message)
                )
                continue
            shown = ", ".join(str(v) for v in values) if isinstance(values, list) else values
            message = (
                f"suggested {kind.replace('_', ' ')} from the text: {shown}; move the right ones "
                f"to '{kind}' and delete 'suggested.{kind}'"
            )
            findings.append(
                _finding(postmortem, f"suggested.{kind}", "warning", "suggestion", message)
            )
    elif suggested is not None:
        message = "'suggested' must map services, error_classes, ... to lists"
        findings.append(_finding(postmortem, "suggested", "warning", "suggestion", message))
    review = postmortem.front_matter.get("review")
    entries = review if isinstance(review, list) else [] if review is None else [review]
    for position, entry in enumerate(entries):
        message = f"to review: {entry} (then delete this line from 'review')"
        findings.append(_finding(postmortem, f"review.{position}", "warning", "review", message))
    return findings


def _vocabulary(postmortem: Postmortem, taxonomy: Taxonomy) -> list[Finding]:
    if taxonomy.empty:
        return []
    findings = []
    kinds = (
        ("services", "service", postmortem.services),
        ("error_classes", "error class", postmortem.error_classes),
        ("contributing_factors", "contributing factor", postmortem.contributing_factors),
    )
    for kind, label, values in kinds:
        vocabulary = taxonomy.kind(kind)
        # A misspelt service or error class would be indexed as a second one and
        # split every count by it: an error, so CI stops it before merge.
        level = "warning" if kind == "contributing_factors" else "error"
        for position, value in enumerate(values):
            if value in vocabulary:
                continue
            hint = suggest(value, vocabulary)
            message = f"unknown {label} '{value}' (not in taxonomy.yaml)" + (
                f"; did you mean '{hint}'?" if hint else ""
            )
            findings.append(
                _finding(postmortem, f"{kind}.{position}", level, "vocabulary", message)
            )
    return findings


def _teams(postmortem: Postmortem, taxonomy: Taxonomy) -> list[Finding]:
    """Teams must be ones the taxonomy knows (`teams:`, or a service's `team:`), if it knows any."""
    known = taxonomy.teams
    if not known:
        return []
    findings = []
    for position, team in enumerate(postmortem.teams):
        if team in known:
            continue
        hint = suggest(team, known)
        message = f"unknown team '{team}' (not in taxonomy.yaml)" + (
            f"; did you mean '{hint}'?" if hint else ""
        )
        findings.append(_finding(postmortem, f"teams.{position}", "error", "vocabulary", message))
    return findings


_ID_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})(?:\b|_|-)")


def _dates_agree(postmortem: Postmortem, taxonomy: Taxonomy) -> list[Finding]:
    """`date`, the day the id starts with and `timestamps.started_at` name one day.

    started_at may fall on the next or previous day in UTC (an evening
    incident in New York), so its day as written and in UTC both agree.
    """
    findings = []
    day = postmortem.date.isoformat()
    named = _ID_DAY.match(postmortem.id)
    if named and named.group(1) != day:
        message = (
            f"'date' is {day} but the id '{postmortem.id}' starts with {named.group(1)}: "
            "fix whichever is wrong (the id is the URL, so prefer fixing 'date')"
        )
        findings.append(_finding(postmortem, "date", "error", "date-mismatch", message))
    started = postmortem.timestamps.get("started_at")
    if started is not None and "date" in postmortem.front_matter:
        days = {started.date(), started.astimezone(UTC).date()}
        if postmortem.date not in days:
            message = (
                f"'date' is {day} but timestamps.started_at ({started.isoformat()}) "
                f"is on {started.date().isoformat()}"
            )
            findings.append(_finding(postmortem, "date", "error", "date-mismatch", message))
    return findings


def _timestamp_order(postmortem: Postmortem, taxonomy: Taxonomy) -> list[Finding]:
    findings = []
    present = [
        (name, postmortem.timestamps[name])
        for name in TIMESTAMP_FIELDS
        if name in postmortem.timestamps
    ]
    for (earlier, first), (later, second) in itertools.pairwise(present):
        if second < first:
            findings.append(
                _finding(
                    postmortem,
                    f"timestamps.{later}",
                    "error",
                    "timestamp-order",
                    f"{later} ({second.isoformat()}) is before {earlier} ({first.isoformat()})",
                )
            )
    return findings


def _action_items(postmortem: Postmortem, taxonomy: Taxonomy) -> list[Finding]:
    findings = []
    for item in postmortem.action_items:
        if item.status not in ("open", "in_progress"):
            continue
        missing = [name for name in ("owner", "due") if not getattr(item, name)]
        if missing:
            findings.append(
                Finding(
                    postmortem.path,
                    item.line,
                    "warning",
                    "action-item",
                    f"action item {item.id} ('{item.title}') has no " + " and no ".join(missing),
                )
            )
    return findings


def _detection_gap(postmortem: Postmortem, taxonomy: Taxonomy) -> list[Finding]:
    started = postmortem.timestamps.get("started_at")
    detected = postmortem.timestamps.get("detected_at")
    if not started or not detected or detected - started <= DETECTION_GAP:
        return []
    if any(item.type == "detect" for item in postmortem.action_items):
        return []
    minutes = int((detected - started).total_seconds() // 60)
    return [
        _finding(
            postmortem,
            "timestamps.detected_at",
            "warning",
            "detection-gap",
            f"detection gap of {minutes} minutes (over 5) and no 'detect' action item: "
            "instrument better",
        )
    ]


def _sections(postmortem: Postmortem, taxonomy: Taxonomy) -> list[Finding]:
    if postmortem.status != "published":
        return []
    findings = []
    found = markdown.headings(postmortem.body)
    covered = {name for heading in found for name in headings.canonical(heading.text)}
    for name in headings.SECTIONS:
        if name not in covered:
            findings.append(
                Finding(
                    postmortem.path,
                    postmortem.body_line,
                    "warning",
                    "section",
                    f"missing section '## {name}'",
                )
            )
    findings.extend(_placeholders(postmortem, found))
    return findings


def _placeholders(postmortem: Postmortem, found: list[markdown.Heading]) -> list[Finding]:
    """`TODO` left to fill in, but not a TODO/DONE status marker of an action item.

    In a table row or under an action-items heading, `TODO` is a status (the
    SRE book's "Bug 5554823 TODO"); only a line that starts with it is a gap.
    """
    action_lines: set[int] = set()
    total = postmortem.body.count("\n") + 2
    for position, heading in enumerate(found):
        if "Action items" in headings.canonical(heading.text):
            after = (h.line for h in found[position + 1 :] if h.level <= heading.level)
            action_lines.update(range(heading.line + 1, next(after, total)))
    findings = []
    for number, line in enumerate(postmortem.body.split("\n"), start=1):
        if not _PLACEHOLDER.search(line):
            continue
        marker = number in action_lines or _TABLE_ROW.match(line)
        if marker and not _LEADING_PLACEHOLDER.match(line):
            continue
        findings.append(
            Finding(
                postmortem.path,
                number + postmortem.body_line - 1,
                "warning",
                "placeholder",
                f"'{PLACEHOLDER}' left in a published postmortem",
            )
        )
    return findings
