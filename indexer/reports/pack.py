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
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from indexer.db import catalog, store
from indexer.db.models import ActionItemRow, PostmortemRow
from indexer.format import markdown
from indexer.search import SemanticIndex, related

RELATED = 5
ROOT_CAUSE_HEADINGS = ("root cause", "root causes", "contributing factors")


_HEADING = re.compile(r"^#{1,2}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def root_cause(body: str) -> str:
    """The text of the body's root-cause section, or '' when it has none.

    Only that section goes through the Markdown parser: parsing whole bodies
    made up most of the pack's time.
    """
    headings = list(_HEADING.finditer(body))
    for position, heading in enumerate(headings):
        if heading[1].strip().lower() in ROOT_CAUSE_HEADINGS:
            end = headings[position + 1].start() if position + 1 < len(headings) else len(body)
            found = markdown.sections(body[heading.start() : end])
            return found[0].text.strip() if found else ""
    return ""


def build(
    engine: Engine,
    semantic: SemanticIndex,
    postmortem_id: str,
    *,
    groups: frozenset[str] = frozenset(),
    today: dt.date | None = None,
) -> dict[str, Any] | None:
    """The pack for one postmortem, or None when it does not exist or is not visible."""
    with store.session(engine) as db:
        record = catalog.get_postmortem(db, postmortem_id, groups=groups, today=today)
        if record is None:
            return None
        found = related(engine, semantic, postmortem_id, limit=RELATED, groups=groups)
        day = today or dt.date.today()
        precedents = [_precedent(db, item, day) for item in found or []]
    return {"postmortem": record, "related": precedents}


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
    return "\n".join(lines).rstrip() + "\n"


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
    when = "this happened again (later)" if item["when"] == "later" else "earlier"
    facts = f"{item['date']}, {item['severity'] or 'SEV?'}, {when}, {item['strength']} relation"
    lines = [f"## {item['title']}", "", f"*{facts}*", ""]
    lines += [f"**Why it is related.** {why or 'similar text'}", ""]
    if item["summary"]:
        lines += [f"**Impact.** {item['summary']}", ""]
    lines += ["**Root cause.**", "", item["root_cause"] or "(not written down)", ""]
    lines.append("**Fixes.**")
    lines.append("")
    lines += [f"- {fix['title']} ({fix['status']})" for fix in item["fixes"]] or ["- none listed"]
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
    return f"similar passage in “{value}”" if value else "similar passage"
