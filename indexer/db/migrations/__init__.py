"""Alembic migrations of the database schema (run by `pml migrate` and at start-up)."""
