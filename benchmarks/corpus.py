"""Write a postmortem corpus in JSONL (the format of ../shared/corpus) out as a library.

Each line becomes one Markdown postmortem with front matter. Documents
without a date get 1970-01-01 and the tag `undated`, since the format
requires a date.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

UNDATED = "1970-01-01"


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def to_markdown(document: dict[str, Any]) -> str:
    tags = [*document.get("categories", [])]
    if not document.get("date"):
        tags.append("undated")
    front = {
        "schema": 1,
        "id": document["id"],
        "title": document["title"],
        "date": document.get("date") or UNDATED,
        "tags": tags,
        "authors": [document["company"]] if document.get("company") else [],
    }
    link = f"\n\nSource: <{document['url']}>\n" if document.get("url") else "\n"
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
    return f"---\n{header}---\n{document['text'].strip()}{link}"


def write_library(corpus: Path, folder: Path) -> list[dict[str, Any]]:
    """Write every document of `corpus` into `folder`; returns the documents."""
    documents = load(corpus)
    folder.mkdir(parents=True, exist_ok=True)
    for document in documents:
        (folder / f"{document['id']}.md").write_text(to_markdown(document), encoding="utf-8")
    return documents
