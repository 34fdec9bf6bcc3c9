"""The linter: everything `pml lint` checks, and its three output formats."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from pathlib import Path

from indexer.format import files as library
from indexer.format.postmortem import KNOWN_FIELDS, TIMESTAMP_FIELDS, Finding, Postmortem
from indexer.format.taxonomy import Taxonomy, suggest

DETECTION_GAP = timedelta(minutes=5)
SECTIONS = (
    ("Summary",),
    ("Impact",),
    ("Timeline",),
    ("Contributing factors", "Root cause", "Root causes"),
    ("Detection",),
    ("Response and recovery", "Response", "Recovery"),
    ("Lessons learned",),
    ("Action items",),
)
PLACEHOLDER = "TODO"
RESTRICTED_HIDDEN = "restricted-hidden"


def lint_postmortem(postmortem: Postmortem, taxonomy: Taxonomy) -> list[Finding]:
    """The findings of one postmortem on its own (library-wide checks come later)."""
    findings = list(postmortem.findings)
    checks = (
        _unknown_fields,
        _vocabulary,
        _timestamp_order,
        _action_items,
        _detection_gap,
        _sections,
    )
    for check in checks:
        findings.extend(check(postmortem, taxonomy))
    return findings


def lint_library(postmortems: list[Postmortem]) -> list[Finding]:
    """Checks across files: duplicate ids and links to postmortems that do not exist."""
    findings = []
    by_id: dict[str, list[Postmortem]] = defaultdict(list)
    for postmortem in postmortems:
        by_id[postmortem.id].append(postmortem)
    for identifier, owners in by_id.items():
        for duplicate in owners[1:]:
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
) -> list[Finding]:
    """Lint files and folders; the result is sorted by file and line."""
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
    findings.extend(lint_library(postmortems))
    for check in library_checks:
        findings.extend(check(postmortems))
    return sorted(set(findings), key=lambda f: (f.path, f.line, f.level, f.message))


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
        for position, value in enumerate(values):
            if value in vocabulary:
                continue
            hint = suggest(value, vocabulary)
            message = f"unknown {label} '{value}' (not in taxonomy.yaml)" + (
                f"; did you mean '{hint}'?" if hint else ""
            )
            findings.append(
                _finding(postmortem, f"{kind}.{position}", "warning", "vocabulary", message)
            )
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
    parts = postmortem.sections
    headings = {section.heading.lower() for section in parts}
    for names in SECTIONS:
        if not any(name.lower() in headings for name in names):
            findings.append(
                Finding(
                    postmortem.path,
                    postmortem.body_line,
                    "warning",
                    "section",
                    f"missing section '## {names[0]}'",
                )
            )
    for number, line in enumerate(postmortem.body.split("\n"), start=postmortem.body_line):
        if PLACEHOLDER in line:
            findings.append(
                Finding(
                    postmortem.path,
                    number,
                    "warning",
                    "placeholder",
                    f"'{PLACEHOLDER}' left in a published postmortem",
                )
            )
    return findings
