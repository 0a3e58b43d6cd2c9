"""Settings of one web app instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings"]


@dataclass
class Settings:
    """How the app runs.

    Parameters
    ----------
    data_dir
        Folder for the SQLite database, the field-encryption key and generated reports (``./attunexr-data``).
    database_url
        SQLAlchemy URL; ``None`` means SQLite at ``data_dir/attunexr.db``. PostgreSQL:
        ``postgresql+psycopg://user:pw@host/db``.
    dataset_dir
        Folder of the real datasets used for replays (``None``: :func:`attunexr.io.data_root`).
    speed
        Default session seconds per wall-clock second of live sessions (1.0 = real time).
    secure_cookies
        Send the session cookie only over HTTPS (set behind a TLS proxy in production).
    session_hours
        Lifetime of a login.
    """

    data_dir: Path = field(default_factory=lambda: Path("attunexr-data"))
    database_url: str | None = None
    dataset_dir: Path | None = None
    speed: float = 1.0
    secure_cookies: bool = False
    session_hours: float = 12.0

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(Path(self.data_dir) / 'attunexr.db').resolve()}"
