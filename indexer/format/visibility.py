"""When a postmortem is public: only when nothing in it suggests otherwise.

The author's intent to hide a postmortem can be spelled in many ways that a
strict reader would not understand: `visiblity: restricted`, `Visibility:
restricted`, an empty `visibility:`, an `audience` beside no visibility at
all. Each of those *suggests* a restriction, so each fails closed: the
postmortem is served as restricted to the audience it names (to nobody
without one) and lint reports an error at the line, so CI fails until the
file says what it means.

`signs(data, lines)` reads a parsed front matter; `plainly_public(text)`
judges the raw text of a file that could not be parsed (its problem, and so
its path, is shown to everyone only when the text has no sign at all).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

VISIBILITY = "visibility"
AUDIENCE = "audience"
# Keys whose name alone says the author meant to hide the postmortem.
_RESTRICTING_WORDS = frozenset(
    {
        "private",
        "restricted",
        "confidential",
        "secret",
        "hidden",
        "visible",
        "public",
        "readers",
        "acl",
        "access",
        "sensitive",
        "sensitivity",
        "classification",
        "embargo",
    }
)
# How far a key may be from `visibility` / `audience` and still be read as a try at it.
_DISTANCE = {VISIBILITY: 3, AUDIENCE: 2}
_WORD = re.compile(r"[^\s:{},\[\]#]+")
_MAX_SCAN = 65536


@dataclass(frozen=True)
class Sign:
    """One thing in a front matter that says the postmortem may be restricted."""

    key: str  # the dotted key path, as written
    message: str


# Letters that look like Latin ones but do not fold to them (Turkish dotless i, Cyrillic).
_LOOK_ALIKES = str.maketrans("ıſаеіорсухѕјԁνϲ", "isaeiopcyxsjdvc")


def normalised(key: str) -> str:
    """A key as a reader would see it: look-alikes, accents and case folded, letters only."""
    folded = unicodedata.normalize("NFKD", key).casefold().translate(_LOOK_ALIKES)
    return "".join(ch for ch in folded if ch.isalnum() and not unicodedata.combining(ch))


@functools.lru_cache(maxsize=4096)  # the same few dozen keys in every file
def resembles(key: str) -> str | None:
    """`visibility` or `audience` when `key` looks like an attempt at it, else None.

    Case, quotes, spaces, punctuation and look-alike characters are ignored, and
    a few typing slips (edit distance) are forgiven; an exact `visibility` also
    counts, so callers decide which spellings are the real one.
    """
    word = normalised(key)
    if not word:
        return None
    for name, limit in _DISTANCE.items():
        if _edit_distance(word, name, limit) <= limit:
            return name
    if word in _RESTRICTING_WORDS:
        return VISIBILITY
    return None


def signs(
    data: dict[str, Any], lines: dict[str, int], key_styles: dict[str, str] | None = None
) -> list[Sign]:
    """Every sign of restriction in a parsed front matter other than a well-formed visibility.

    A well-formed visibility is the top-level `visibility` key, written plain
    on its own line, holding the text `internal` or `restricted`; an
    `audience` at the top level is a sign only when the visibility is not
    `restricted` (then it is simply the audience). A quoted or flow-style
    `visibility` or `audience` key is a sign too: tools that read the text
    (grep in CI, the check of files that cannot be parsed) would miss it.
    """
    found: list[Sign] = []
    for key in (VISIBILITY, AUDIENCE):
        style = (key_styles or {}).get(key)
        if style is not None:
            how = "quoted" if style == "quoted" else "inside a {...} mapping"
            found.append(Sign(key, f"'{key}' is written {how}; write it plain on its own line"))
    visibility = data.get(VISIBILITY)
    stated = visibility.strip() if isinstance(visibility, str) else None
    if VISIBILITY in data and stated not in ("internal", "restricted"):
        shown = "empty" if visibility in (None, "") else f"'{visibility}'"
        if not isinstance(visibility, (str, type(None))):
            shown = f"a {type(visibility).__name__}"
        found.append(Sign(VISIBILITY, f"'visibility' is {shown}; expected internal or restricted"))
    if AUDIENCE in data and stated != "restricted":
        found.append(
            Sign(
                AUDIENCE,
                "an 'audience' is set but 'visibility' is not 'restricted'; "
                "say 'visibility: restricted' (or remove the audience to publish it)",
            )
        )
    for path in lines:
        name = path.rpartition(".")[2]
        if path in (VISIBILITY, AUDIENCE) or name.isdigit():
            continue
        meant = resembles(name)
        if meant is not None:
            where = "" if "." not in path else f" (inside '{path.rpartition('.')[0]}')"
            found.append(
                Sign(
                    path, f"key '{name}'{where} looks like '{meant}'; spell it '{meant}' at the top"
                )
            )
    return found


def plainly_public(text: str) -> bool:
    """Whether the text of a file that could not be parsed says nothing of a restriction.

    Every word in the first 64 KiB that resembles `visibility` or `audience`
    (whatever its quoting, case or place: a flow mapping, a quoted key, a
    comment) counts as a sign, except a `visibility` whose value is plainly
    `internal`.
    """
    for line in _front(text[:_MAX_SCAN]):
        words = _WORD.findall(line)
        for position, word in enumerate(words):
            meant = resembles(word.strip("'\"`"))
            if meant is None:
                continue
            value = [w.strip("'\"") for w in words[position + 1 : position + 2]]
            if normalised(word) == VISIBILITY and value == ["internal"] and len(words) == 2:
                continue
            return False
    return True


def _front(text: str) -> list[str]:
    """The lines of the front matter (all lines when it is not closed)."""
    lines = text.splitlines()
    for number, line in enumerate(lines[1:], start=1):
        if line.rstrip() in ("---", "..."):
            return lines[:number]
    return lines


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, cut short once it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]
