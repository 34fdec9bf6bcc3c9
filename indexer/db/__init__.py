"""The database: every table (`models`), engine, sessions and writes (`store`), reads (`catalog`).

Postmortem rows are derived from the library and can always be rebuilt from
it; `migrate` brings any database to the newest Alembic revision.
"""
