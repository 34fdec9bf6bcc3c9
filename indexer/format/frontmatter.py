"""A strict, safe reader for the YAML front matter of a postmortem.

PyYAML's safe loader still expands aliases (the "billion laughs" bomb) and
applies YAML 1.1 coercions (`no` becomes False, `2025-01-01 10:00` becomes a
naive datetime). The format needs neither, so this reader composes the YAML
node graph itself, refuses anchors, aliases and tags, and resolves scalars by
YAML 1.2 core rules with dates left as text. It also remembers the line of
every key, so the linter can point at `file:line`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_FRONT_MATTER_BYTES = 64 * 1024
MAX_DEPTH = 20

_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUES = {"true", "True", "TRUE"}
_FALSES = {"false", "False", "FALSE"}
_DELIMITER = re.compile(r"---[ \t]*\Z")
_END = re.compile(r"(---|\.\.\.)[ \t]*\Z")


class FrontMatterError(ValueError):
    """The front matter cannot be read; `line` is 1-based within the file."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class Document:
    """A postmortem file split into its parsed front matter and its body."""

    data: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)
    body: str = ""
    body_line: int = 1
    # Key paths written quoted ("quoted") or inside a `{...}` mapping ("flow").
    key_styles: dict[str, str] = field(default_factory=dict)

    def line_of(self, path: str, default: int = 1) -> int:
        """The line of a dotted key path, or of its closest ancestor."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return default


def split(text: str) -> tuple[str, str, int]:
    """Split a file into (yaml_text, body, body_line). Raises if there is no front matter."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if not lines or not _DELIMITER.match(lines[0].rstrip("\r")):
        raise FrontMatterError(
            "no front matter: the file must start with a '---' line "
            "(`pml import postmortems` converts a postmortem written elsewhere)",
            1,
        )
    for number, line in enumerate(lines[1:], start=1):
        if _END.match(line.rstrip("\r")):
            yaml_text = "\n".join(lines[1:number])
            body = "\n".join(lines[number + 1 :])
            return yaml_text, body, number + 2
    raise FrontMatterError("front matter is not closed: add a '---' line after it", 1)


def parse(text: str) -> Document:
    """Parse a whole postmortem file (front matter and body)."""
    yaml_text, body, body_line = split(text)
    if len(yaml_text.encode("utf-8")) > MAX_FRONT_MATTER_BYTES:
        raise FrontMatterError(
            f"front matter is larger than {MAX_FRONT_MATTER_BYTES // 1024} KiB", 2
        )
    lines: dict[str, int] = {}
    styles: dict[str, str] = {}
    data = load(yaml_text, lines, first_line=2, key_styles=styles)
    if not isinstance(data, dict):
        raise FrontMatterError("front matter must be a mapping of fields (key: value)", 2)
    return Document(data=data, lines=lines, body=body, body_line=body_line, key_styles=styles)


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when available


def load(
    yaml_text: str,
    lines: dict[str, int] | None = None,
    first_line: int = 1,
    key_styles: dict[str, str] | None = None,
) -> Any:
    """Load YAML text strictly; `lines` receives the 1-based line of every key path.

    `key_styles` receives the paths of keys written quoted or in a flow mapping.
    """
    builder = _Builder(lines if lines is not None else {}, first_line)
    builder.styles = key_styles if key_styles is not None else {}
    try:
        for event in yaml.parse(yaml_text, Loader=_Loader):
            builder.feed(event)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = (mark.line if mark else 0) + first_line
        problem = error.problem or error.context or "invalid YAML"
        raise FrontMatterError(f"invalid YAML: {problem}", line) from None
    except yaml.YAMLError as error:
        raise FrontMatterError(f"invalid YAML: {error}", first_line) from None
    return builder.result


class _Builder:
    """Builds Python values from parser events, refusing what the format forbids.

    Working from events (not PyYAML's composer) means an alias is refused
    before anything is expanded, and libyaml's fast parser can be used.
    """

    def __init__(self, lines: dict[str, int], offset: int) -> None:
        self.lines = lines
        self.offset = offset
        self.result: Any = None
        self.documents = 0
        self.styles: dict[str, str] = {}
        # Each frame: [container, path, pending key or None, written as a flow mapping]
        self.stack: list[list[Any]] = []

    def feed(self, event: yaml.Event) -> None:
        line = event.start_mark.line + self.offset if event.start_mark else self.offset
        if isinstance(event, yaml.AliasEvent):
            raise FrontMatterError("YAML aliases (*name) are not allowed in front matter", line)
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise FrontMatterError("front matter must be a single YAML document", line)
            return
        if isinstance(event, yaml.NodeEvent):
            if event.anchor:
                raise FrontMatterError("YAML anchors (&name) are not allowed in front matter", line)
            tag = getattr(event, "tag", None)
            if tag not in (None, "!"):
                raise FrontMatterError(f"YAML tags ({tag}) are not allowed in front matter", line)
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(self.stack) >= MAX_DEPTH:
                raise FrontMatterError(
                    f"front matter is nested deeper than {MAX_DEPTH} levels", line
                )
            container: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
            path = self._place(container, line)
            self.stack.append([container, path, None, bool(getattr(event, "flow_style", False))])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            self.stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            frame = self.stack[-1] if self.stack else None
            if frame is not None and isinstance(frame[0], dict) and frame[2] is None:
                key = event.value
                if key in frame[0]:
                    raise FrontMatterError(f"duplicate key '{key}'", line)
                frame[2] = key
                path = f"{frame[1]}.{key}" if frame[1] else key
                self.lines[path] = line
                if event.style or frame[3]:
                    self.styles[path] = "quoted" if event.style else "flow"
                return
            self._place(_scalar(event.value, event.style), line)

    def _place(self, value: Any, line: int) -> str:
        """Attach a value to the open container; returns its dotted path."""
        if not self.stack:
            self.result = value
            return ""
        container, path, key, _ = self.stack[-1]
        if isinstance(container, dict):
            if not isinstance(key, str):
                raise FrontMatterError("mapping keys must be plain text", line)
            container[key] = value
            self.stack[-1][2] = None
            return f"{path}.{key}" if path else key
        child = f"{path}.{len(container)}" if path else str(len(container))
        self.lines.setdefault(child, line)
        container.append(value)
        return child


def _scalar(value: str, style: str | None) -> Any:
    if style:  # quoted or block scalars are always text (plain is None or "")
        return value
    if value in _NULLS:
        return None
    if value in _TRUES:
        return True
    if value in _FALSES:
        return False
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    return value
