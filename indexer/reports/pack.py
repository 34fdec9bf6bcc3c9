"""The presenter pack: one postmortem plus its related past incidents, for a guild talk.

A presenter wants the story and its precedents on one page: the postmortem
itself, then each related earlier postmortem with why it is related, its
root cause (the "Root cause" or "Contributing factors" section) and its fixes
(the action items and their status). The same pack exports as one Markdown
file. Visibility is the reader's, as everywhere: `catalog` and `related`
decide it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from indexer.db import catalog, store
from indexer.db.models import ActionItemRow, PostmortemLink, PostmortemRow
from indexer.search import SemanticIndex, related

RELATED = 5
CANDIDATES = 8  # more related postmortems offered to add to the pack
MAX_CLASS_PACK = 100
STATUS_WORDS = {"wont_do": "won't do", "in_progress": "in progress"}
ROOT_CAUSE_HEADINGS = ("root cause", "root causes", "contributing factors")


_HEADING = re.compile(r"^#{1,2}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def root_cause(body: str) -> str:
    """The Markdown of the body's root-cause section (without its heading), or ''.

    Markdown, not plain text: the author's lists and paragraphs survive into
    the page (rendered) and the Markdown export (as written), where plain text
    kept hard line breaks and ran bullets together.
    """
    headings = list(_HEADING.finditer(body))
    for position, heading in enumerate(headings):
        if heading[1].strip().lower() in ROOT_CAUSE_HEADINGS:
            end = headings[position + 1].start() if position + 1 < len(headings) else len(body)
            return body[heading.end() : end].strip()
    return ""


def build(
    engine: Engine,
    semantic: SemanticIndex,
    postmortem_id: str,
    *,
    groups: frozenset[str] = frozenset(),
    today: dt.date | None = None,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> dict[str, Any] | None:
    """The pack for one postmortem, or None when it does not exist or is not visible.

    The presenter chooses the precedents: the most related ones minus
    `remove`, plus `add` (any postmortem they may read). `candidates` are the
    next most related, to add with one click; the choice lives in the URL.
    """
    removed, day = set(remove), today or dt.date.today()
    with store.session(engine) as db:
        record = catalog.get_postmortem(db, postmortem_id, groups=groups, today=day)
        if record is None:
            return None
        wanted = RELATED + len(removed) + CANDIDATES
        found = related(engine, semantic, postmortem_id, limit=wanted, groups=groups) or []
        suggested = [item for item in found if item["id"] not in removed]
        chosen = [item for item in suggested if item["id"] not in add][:RELATED]
        chosen_ids = {item["id"] for item in chosen} | {postmortem_id}
        added = [_chosen(db, identifier, groups) for identifier in add]
        chosen += [item for item in added if item is not None]
        candidates = [item for item in suggested if item["id"] not in chosen_ids | set(add)]
        precedents = [_precedent(db, item, day) for item in chosen]
        rows = [record_row(db, record["id"], groups)]
        rows += [record_row(db, item["id"], groups) for item in precedents]
    return {
        "postmortem": record,
        "related": precedents,
        "candidates": [_short(item) for item in candidates[:CANDIDATES]],
        "added": [item["id"] for item in precedents if item.get("chosen")],
        "removed": sorted(removed),
        "comparison": sorted(rows, key=lambda row: row["date"]),
    }


def build_for_class(
    engine: Engine,
    error_class: str,
    *,
    groups: frozenset[str] = frozenset(),
    today: dt.date | None = None,
) -> dict[str, Any] | None:
    """Everything the library learned about one error class, oldest first; None if nothing.

    "Everything we learned about connection pool exhaustion": each readable
    postmortem of the class with its root cause and fixes, and the comparison
    of the recurrences.
    """
    day = today or dt.date.today()
    with store.session(engine) as db:
        ids = list(
            db.exec(
                select(PostmortemRow.id)
                .where(col(PostmortemRow.id).in_(_of_classes([error_class])))
                .where(catalog.visible(groups))
                .order_by(col(PostmortemRow.date), col(PostmortemRow.id))
                .limit(MAX_CLASS_PACK)
            )
        )
        if not ids:
            return None
        # Members of the class, not precedents anyone chose: no "why it is related".
        items = [_chosen(db, identifier, groups) for identifier in ids]
        members = [{**item, "reasons": [], "chosen": False} for item in items if item is not None]
        precedents = [_precedent(db, item, day) for item in members]
        rows = [record_row(db, identifier, groups, [error_class]) for identifier in ids]
    return {"error_class": error_class, "postmortems": precedents, "comparison": rows}


def record_row(
    db: Session, postmortem_id: str, groups: frozenset[str], only: list[str] | None = None
) -> dict[str, Any]:
    """One line of the recurrence comparison: when, how bad, how fast seen, what was fixed,
    and whether the failure came back (a later readable postmortem of a shared error class;
    with `only`, of one of those classes: an error class's pack asks about that class).

    Read from the row, its links and its action items: no body is rendered.
    """
    row = db.get(PostmortemRow, postmortem_id)
    assert row is not None, "callers pass readable ids"
    classes = list(
        db.exec(
            select(PostmortemLink.value).where(
                col(PostmortemLink.postmortem_id) == postmortem_id,
                col(PostmortemLink.kind) == "error_class",
            )
        )
    )
    fixes = list(
        db.exec(
            select(ActionItemRow.title, ActionItemRow.status)
            .where(col(ActionItemRow.postmortem_id) == postmortem_id)
            .order_by(col(ActionItemRow.position))
        )
    )
    if only is not None:
        classes = [name for name in classes if name in only]
    later: list[str] = []
    if classes:
        later = list(
            db.exec(
                select(PostmortemRow.id)
                .where(col(PostmortemRow.id).in_(_of_classes(classes)))
                .where(col(PostmortemRow.date) > row.date)
                .where(catalog.visible(groups))
                .order_by(col(PostmortemRow.date), col(PostmortemRow.id))
                .limit(5)
            )
        )
    durations = catalog.durations(row)
    done = [title for title, status in fixes if status == "done"]
    return {
        "id": row.id,
        "title": row.title,
        "date": row.date.isoformat(),
        "severity": row.severity,
        "impact": row.impact_summary,
        "error_budget_minutes": row.error_budget_minutes,
        "detection_gap_seconds": durations["time_to_detect_seconds"],
        "time_to_resolve_seconds": durations["time_to_resolve_seconds"],
        "fixes_done": len(done),
        "fixes_total": len(fixes),
        "fixes": done,
        "came_back": later,
    }


def _of_classes(names: list[str]) -> Any:
    """SQL: the ids of postmortems with one of these error classes."""
    return select(PostmortemLink.postmortem_id).where(
        col(PostmortemLink.kind) == "error_class", col(PostmortemLink.value).in_(names)
    )


def _chosen(db: Session, postmortem_id: str, groups: frozenset[str]) -> dict[str, Any] | None:
    """A postmortem the presenter added, as a related item (None if they may not read it)."""
    readable = select(PostmortemRow).where(catalog.visible(groups))
    row = db.exec(readable.where(PostmortemRow.id == postmortem_id)).first()
    if row is None:
        return None
    record = catalog.summary(row, store.links_for(db, [row.id])[row.id])  # no body rendered
    return {
        **_short(record),
        "services": record["services"],
        "error_classes": record["error_classes"],
        "reasons": [{"kind": "chosen"}],
        "chosen": True,
    }


def _short(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "title": item["title"], "date": item["date"]}


def _precedent(db: Session, item: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """A related postmortem (already checked visible) with its root cause and fixes.

    Read straight from its row: rendering each precedent's whole body would
    triple the time of the pack.
    """
    row = db.get(PostmortemRow, item["id"])
    items = db.exec(
        select(ActionItemRow)
        .where(ActionItemRow.postmortem_id == item["id"])
        .order_by(col(ActionItemRow.position))
    )
    return {
        **item,
        "severity": row.severity if row else None,
        "summary": row.impact_summary if row else None,
        "root_cause": root_cause(row.body) if row else "",
        "fixes": [catalog.action_item(action, today) for action in items],
    }


def to_markdown(pack: dict[str, Any]) -> str:
    """The whole pack as one Markdown document."""
    record = pack["postmortem"]
    lines = [f"# {record['title']}", "", *_facts(record), "", record["body_markdown"].strip(), ""]
    lines += ["", "# Related incidents, earlier and later", ""]
    if not pack["related"]:
        lines.append("No related postmortems were found.")
    for item in pack["related"]:
        lines += _precedent_markdown(item)
    lines += ["", "# How the recurrences compare", "", *_comparison_markdown(pack["comparison"])]
    return "\n".join(lines).rstrip() + "\n"


def class_to_markdown(pack: dict[str, Any]) -> str:
    """An error class's pack as one Markdown document."""
    count = len(pack["postmortems"])
    lines = [f"# Everything we learned about {pack['error_class']}", ""]
    lines += [f"{count} postmortem{'s' if count != 1 else ''}, oldest first.", ""]
    lines += ["## How the recurrences compare", "", *_comparison_markdown(pack["comparison"])]
    for item in pack["postmortems"]:
        lines += _precedent_markdown(item)
    return "\n".join(lines).rstrip() + "\n"


def _comparison_markdown(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| Date | Postmortem | Severity | Impact | Detection gap | Fixed | Came back |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = [
            row["date"],
            row["title"],
            row["severity"] or "",
            row["impact"] or "",
            _minutes(row["detection_gap_seconds"]),
            f"{row['fixes_done']} of {row['fixes_total']}",
            ", ".join(row["came_back"]) or "no",
        ]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return [*lines, ""]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _minutes(seconds: int | None) -> str:
    return "" if seconds is None else f"{round(seconds / 60)} min"


def _facts(record: dict[str, Any]) -> list[str]:
    facts = [
        ("Date", record["date"]),
        ("Severity", record["severity"]),
        ("Services", ", ".join(record["services"])),
        ("Error classes", ", ".join(record["error_classes"])),
        ("Impact", record["impact"]["summary"]),
    ]
    return [f"- **{name}:** {value}" for name, value in facts if value]


def _precedent_markdown(item: dict[str, Any]) -> list[str]:
    why = "; ".join(describe_reason(reason) for reason in item["reasons"])
    facts = f"{item['date']}, {item['severity'] or 'SEV?'}"
    if item.get("when"):  # an item of the pack's related list (not a presenter's or a class's)
        facts += ", this happened again (later)" if item["when"] == "later" else ", earlier"
    if item.get("strength"):
        facts += f", {item['strength']} relation"
    lines = [f"## {item['title']}", "", f"*{facts}*", ""]
    lines += [f"**Why it is related.** {why or 'similar text'}", ""]
    if item["summary"]:
        lines += [f"**Impact.** {item['summary']}", ""]
    lines += ["**Root cause.**", "", item["root_cause"] or "(not written down)", ""]
    lines.append("**Fixes.**")
    lines.append("")
    lines += [
        f"- {fix['title']} ({STATUS_WORDS.get(fix['status'], fix['status'])})"
        for fix in item["fixes"]
    ] or ["- none listed"]
    lines.append("")
    return lines


def describe_reason(reason: dict[str, Any]) -> str:
    """One reason of `related.related` in words: "same error class: x"."""
    kind, value = reason["kind"], reason.get("value", "")
    if kind == "error_class":
        return f"same error class: {value}"
    if kind == "service":
        return f"same service: {value}"
    if kind == "linked":
        return "listed under related"
    if kind == "chosen":
        return "chosen by the presenter"
    return f"similar passage in “{value}”" if value else "similar passage"
