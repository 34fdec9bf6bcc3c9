"""Postmortem Library: the library behind the `pml` CLI and HTTP API.

Format, parsing, linting, storage and search live here; this package never
imports the web framework, so the CLI and other tools can use it alone.
"""

__version__ = "0.1.0"
