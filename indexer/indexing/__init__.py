"""Keeping the stores in line with the library: `ingest.run` decides and writes.

A folder (`indexer.format.files`) or a git tree (`gitsync`) supplies the
files; `ingest.run` makes every rebuild decision and writes the search index,
then the database; `replicas` keeps other processes' indexes in step;
`pushes` (GitHub and GitLab push webhooks) and `scheduler` trigger syncs.
They work on a `stores.LibraryStores` (the `Library` is one) rather than
importing the library.
"""
