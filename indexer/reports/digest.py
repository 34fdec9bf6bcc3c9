"""The weekly incident digest: three anonymised postmortem summaries, in Markdown and HTML.

The digest goes to everyone, so it shows only internal, published
postmortems (`catalog.visible` with no groups: restricted ones never appear,
whoever asks) and takes people out of the text: authors, people who own the
postmortem or its action items (as full names, first or last names and
handles like `dana.whitfield`), e-mail addresses and @handles. Which
postmortems: those dated in the week, worst severity first; when the week had
fewer than three, the most recent ones of the 90 days before fill the rest.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case
from sqlmodel import Session, col, select

from indexer import periods
from indexer.db import catalog
from indexer.db.models import ActionItemRow, PostmortemLink, PostmortemRow
from indexer.format import markdown

COUNT = 3
LOOKBACK_DAYS = 90
SUMMARY_CHARS = 600
EMPTY = "No postmortems were published this week or in the 90 days before."
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9_][\w.-]*")
# `first.last` is how this library writes people; dotted words ending in a
# domain, file or unit suffix (cluster.local, values.yaml, retention.ms) are not people.
_DOTTED = re.compile(r"(?<![\w./@-])([a-z]{2,})\.([a-z]{2,})(?![\w.(/@-])")
_NOT_PEOPLE = {
    "com", "net", "org", "io", "dev", "local", "internal", "shop", "example", "cloud",
    "yaml", "yml", "json", "conf", "toml", "ini", "html", "txt", "log", "sql", "csv",
    "ms", "raw", "py", "js", "go", "md",
}  # fmt: skip
_SEVERITY_ORDER = case(
    {"SEV1": 1, "SEV2": 2, "SEV3": 3, "SEV4": 4}, value=col(PostmortemRow.severity), else_=5
)


class Anonymiser:
    """Replaces known people, e-mail addresses and @handles in text."""

    def __init__(self, people: set[str]) -> None:
        names: set[str] = set()
        for person in people:
            names |= _variants(person)
        ordered = sorted(names, key=len, reverse=True)  # "Dana Whitfield" before "Dana"
        self._names = (
            re.compile(r"\b(?:" + "|".join(map(re.escape, ordered)) + r")\b") if ordered else None
        )

    def __call__(self, text: str) -> str:
        text = _EMAIL.sub("[email]", text)
        text = _HANDLE.sub("[handle]", text)
        text = _DOTTED.sub(_dotted, text)
        if self._names is not None:
            text = self._names.sub("an engineer", text)
        return text


def _dotted(match: re.Match[str]) -> str:
    return match[0] if match[2] in _NOT_PEOPLE else "[handle]"


def _variants(person: str) -> set[str]:
    """`dana.whitfield` or `Dana Whitfield` -> the handle, the full name and each part."""
    person = person.strip()
    parts = [p for p in re.split(r"[\s._-]+", person) if len(p) > 2]
    result = {person} if person else set()
    result |= {" ".join(p.capitalize() for p in parts)} if parts else set()
    result |= {p.capitalize() for p in parts}
    return result


def _is_person(value: str | None) -> bool:
    """Owners are people when written as handles or names; a bare word is a team."""
    return bool(value) and bool(re.search(r"[\s.]", value or ""))


def people(db: Session) -> set[str]:
    """Everyone the shared library names as author or owner.

    Only postmortems everyone may read: the digest goes to everyone, and a
    name scrubbed because a restricted postmortem mentions it would tell
    readers that someone by that name wrote or owns one.
    """
    shared = select(PostmortemRow.id).where(catalog.visible(frozenset()))
    found = set(
        db.exec(
            select(PostmortemLink.value).where(
                col(PostmortemLink.kind) == "author", col(PostmortemLink.postmortem_id).in_(shared)
            )
        ).all()
    )
    owners = [
        *db.exec(select(PostmortemRow.owner).where(catalog.visible(frozenset()))),
        *db.exec(select(ActionItemRow.owner).where(col(ActionItemRow.postmortem_id).in_(shared))),
    ]
    return found | {owner for owner in owners if owner and _is_person(owner)}


@dataclass
class Digest:
    week: str
    since: dt.date
    until: dt.date
    items: list[dict[str, Any]]
    markdown: str

    @property
    def html(self) -> str:
        return markdown.render_html(self.markdown)

    def as_dict(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "items": self.items,
            "markdown": self.markdown,
            "html": self.html,
        }


def _pick(db: Session, since: dt.date, until: dt.date) -> list[PostmortemRow]:
    base = select(PostmortemRow).where(catalog.visible(frozenset()))
    base = base.where(col(PostmortemRow.status) == "published")
    week = base.where(col(PostmortemRow.date) >= since, col(PostmortemRow.date) <= until)
    chosen = list(
        db.exec(week.order_by(_SEVERITY_ORDER, col(PostmortemRow.date).desc()).limit(COUNT))
    )
    if len(chosen) < COUNT:
        earlier = base.where(
            col(PostmortemRow.date) < since,
            col(PostmortemRow.date) >= since - dt.timedelta(days=LOOKBACK_DAYS),
        )
        chosen += db.exec(
            earlier.order_by(col(PostmortemRow.date).desc()).limit(COUNT - len(chosen))
        )
    return chosen


def _section(body: str, *headings: str) -> str:
    for section in markdown.sections(body):
        if section.heading.lower() in headings:
            return _shorten(" ".join(section.text.split()))
    return ""


def _shorten(text: str) -> str:
    if len(text) <= SUMMARY_CHARS:
        return text
    cut = text[:SUMMARY_CHARS]
    end = cut.rfind(". ")
    return cut[: end + 1] if end > SUMMARY_CHARS // 2 else cut.rstrip() + "…"


def _summary(db: Session, row: PostmortemRow, clean: Anonymiser, base_url: str) -> Any:
    done = db.exec(
        select(ActionItemRow.title)
        .where(ActionItemRow.postmortem_id == row.id, col(ActionItemRow.status) == "done")
        .order_by(col(ActionItemRow.position))
    ).all()
    return {
        "id": row.id,
        "title": clean(row.title),
        "date": row.date.isoformat(),
        "severity": row.severity,
        "summary": clean(_section(row.body, "summary")),
        "root_cause": clean(_section(row.body, "root cause", "contributing factors")),
        "what_changed": [clean(title) for title in done],
        "link": f"{base_url.rstrip('/')}/postmortems/{row.id}",  # the page, for people
    }


def build(db: Session, week: str, *, base_url: str = "") -> Digest:
    """The digest for ISO week `week` (`2025-W07`)."""
    window = periods.parse_week(week)
    clean = Anonymiser(people(db))
    items = [_summary(db, row, clean, base_url) for row in _pick(db, window.since, window.until)]
    for item in items:
        item["this_week"] = window.contains(dt.date.fromisoformat(item["date"]))
    return Digest(week, window.since, window.until, items, _markdown(week, window, items))


def _markdown(week: str, window: periods.Window, items: list[dict[str, Any]]) -> str:
    lines = [f"# Incident digest, {week} ({window.since:%d %b} to {window.until:%d %b %Y})", ""]
    if not items:
        lines.append(EMPTY)
    for item in items:
        when = "" if item["this_week"] else " (from earlier)"
        lines += [
            f"## {item['title']}",
            "",
            f"*{item['date']}, {item['severity'] or 'SEV?'}*{when}",
        ]
        lines += [
            "",
            item["summary"] or "(no summary)",
            "",
            f"**Root cause.** {item['root_cause']}",
        ]
        changed = item["what_changed"] or ["Nothing closed yet."]
        lines += ["", "**What changed.**", "", *[f"- {title}" for title in changed]]
        lines += ["", f"[Read the postmortem]({item['link']})", ""]
    return "\n".join(lines).rstrip() + "\n"
