"""Server paths kept out of what non-admins read (`/readyz` errors, model names)."""

from __future__ import annotations

import re

# An absolute or home-relative path: not the path part of a URL (after a host or `:`).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])(?:~|/)[^\s'\"`,;()]*")


def hide_paths(text: str) -> str:
    """Text with every absolute path in it replaced by `<server path>`."""
    return _ABSOLUTE_PATH.sub("<server path>", text)
