"""Postmortem Library: the library behind the `pml` CLI and HTTP API.

`library.Library` opens one configured library (database, search indexes,
vocabulary); the packages are its parts: `format` (the postmortem format),
`db` (tables, writes, reads), `search` (full-text, semantic, fused),
`indexing` (turning files or a git repository into the stores), `incidents`
(incident data from other tools) and `reports` (trends, reviews, digest).
`filters` is the one list of filter and facet fields. This package never
imports the web framework or the CLI toolkit, so any tool can use it alone.
"""

__version__ = "0.1.0"
