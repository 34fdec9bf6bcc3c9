"""A hypothesis strategy: the front matter of a restricted postmortem, its restriction mangled.

Every way an author (or an editor, or a converter) may spell "this is
restricted" wrongly, each of which must still keep the postmortem from
outsiders (issue 29): the key misspelled by a few letters, miscased, quoted,
padded, written with look-alike letters or full-width forms, nested under
another key; the value empty, null, `~`, a list, another word; no visibility
at all beside an `audience`; the whole front matter as one flow mapping;
a key that only says "private". Never the one public spelling, `visibility:
internal` without an audience.

    @given(front=restricted_front_matter(audience=["mergers"]))
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

_LOOK_ALIKES = {"i": "ıіί", "a": "аα", "e": "е", "o": "оο", "c": "с", "y": "у", "s": "ѕ"}
_VALUES = ("restricted", "Restricted", "RESTRICTED", "private", "secret", "public", "yes")
_EMPTY_VALUES = ("", "null", "~", "Null", "''", '""', "[]", "{}")
_RESTRICTING_KEYS = ("private", "confidential", "restricted", "hidden", "secret")


@st.composite
def _edited(draw: st.DrawFn, word: str) -> str:
    """`word` with one or two typing slips (letters only, so the YAML stays a plain key)."""
    letters = list(word)
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "swap"]))
        at = draw(st.integers(0, len(letters) - 1))
        letter = draw(st.sampled_from(string.ascii_lowercase))
        if kind == "insert":
            letters.insert(at, letter)
        elif kind == "delete" and len(letters) > 3:
            del letters[at]
        elif kind == "replace":
            letters[at] = letter
        elif at + 1 < len(letters):
            letters[at], letters[at + 1] = letters[at + 1], letters[at]
    return "".join(letters)


@st.composite
def _disguised(draw: st.DrawFn, word: str) -> str:
    """`word` miscased, with look-alike letters, full-width, or padded inside quotes."""
    how = draw(st.sampled_from(["case", "look-alike", "full-width", "padded"]))
    if how == "case":
        flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
        changed = "".join(c.upper() if f else c for c, f in zip(word, flips, strict=True))
        return changed if changed != word else word.capitalize()
    if how == "look-alike":
        at = draw(st.sampled_from([i for i, c in enumerate(word) if c in _LOOK_ALIKES]))
        return word[:at] + draw(st.sampled_from(_LOOK_ALIKES[word[at]])) + word[at + 1 :]
    if how == "full-width":
        return "".join(chr(ord(c) + 0xFEE0) for c in word)
    pad = draw(st.sampled_from([" ", "  ", "\t"]))
    return f'"{pad}{word} "'


def _key(word: str) -> st.SearchStrategy[str]:
    """A key that looks like `word` but is not exactly it."""
    return st.one_of(_edited(word), _disguised(word)).filter(lambda key: key != word)


def _quoted(key: str, style: str) -> str:
    if style == "plain" or key.startswith('"'):
        return key
    return f"'{key}'" if style == "single" else f'"{key}"'


@st.composite
def restricted_front_matter(draw: st.DrawFn, fields: dict[str, Any]) -> str:
    """YAML lines for `fields` (a restricted postmortem's) with its restriction mangled.

    `fields` holds `visibility: restricted` and an `audience`; everything else
    is written as it is.
    """
    audience = fields["audience"]
    rest = {k: v for k, v in fields.items() if k not in ("visibility", "audience")}
    style = draw(st.sampled_from(["plain", "single", "double"]))
    how = draw(
        st.sampled_from(
            ["key", "audience key", "value", "empty", "missing", "flow", "nested", "word key"]
        )
    )
    pairs: list[tuple[str, str]] = [(k, _flow(v)) for k, v in rest.items()]
    audience_pair = ("audience", _flow(audience))
    if how == "key":
        pairs += [(_quoted(draw(_key("visibility")), style), "restricted"), audience_pair]
    elif how == "audience key":
        # The audience misspelled: served to nobody, which is still not to outsiders.
        pairs += [("visibility", "restricted"), (draw(_key("audience")), _flow(audience))]
    elif how == "value":
        pairs += [("visibility", draw(st.sampled_from(_VALUES[1:]))), audience_pair]
    elif how == "empty":
        pairs += [(_quoted("visibility", style), draw(st.sampled_from(_EMPTY_VALUES)))]
        pairs.append(audience_pair)
    elif how == "missing":
        pairs.append((_quoted("audience", style), _flow(audience)))
    elif how == "word key":
        pairs += [(draw(st.sampled_from(_RESTRICTING_KEYS)), "true"), audience_pair]
    elif how == "nested":
        pairs += [("review", "{visibility: restricted}"), audience_pair]
    else:  # the whole front matter as one flow mapping, the key quoted or not
        inner = [
            *pairs,
            (_quoted("visibility", style), draw(st.sampled_from(_VALUES))),
            audience_pair,
        ]
        return "{" + ", ".join(f"{k}: {v}" for k, v in inner) + "}\n"
    order = draw(st.permutations(pairs))
    return "".join(f"{k}: {v}\n" if v else f"{k}:\n" for k, v in order)


def _flow(value: Any) -> str:
    """A YAML flow form of a front-matter value (text quoted, lists and maps inline)."""
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value).lower() if isinstance(value, bool) else str(value)
