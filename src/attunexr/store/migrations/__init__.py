"""Alembic migrations of the attunexr store (run by attunexr.store.Database.upgrade)."""

__all__: list[str] = []  # nothing public: alembic finds the scripts by path
