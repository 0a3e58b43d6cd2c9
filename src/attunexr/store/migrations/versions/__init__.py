"""Migration scripts, one per schema revision."""

__all__: list[str] = []  # nothing public: alembic finds the scripts by path
