"""Alembic migrations of the attunexr store (run by attunexr.store.Database.upgrade)."""
