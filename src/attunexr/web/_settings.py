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
    models_dir
        Operator-configured folder of extra models (``<models_dir>/<name>/model.joblib`` with its card), besides the
        registry shipped with attunexr. A session plan names a model; it is never a path.
    max_body_bytes
        Largest request body accepted (1 MiB); a larger one is refused with 413 before it is read.
    login_failures_per_account, login_failures_per_address, login_window_s
        Sign-in throttling: after this many failed sign-ins for one user name (since its last successful
        sign-in) or from one client address within ``login_window_s`` seconds, further attempts get 429 with
        ``Retry-After`` until the oldest failure leaves the window.
    max_parallel_password_checks
        Argon2 hashes or checks running at once in the process (64 MiB each); others wait for a slot.
    """

    data_dir: Path = field(default_factory=lambda: Path("attunexr-data"))
    database_url: str | None = None
    dataset_dir: Path | None = None
    speed: float = 1.0
    secure_cookies: bool = False
    session_hours: float = 12.0
    models_dir: Path | None = None
    max_body_bytes: int = 1 << 20
    login_failures_per_account: int = 10
    login_failures_per_address: int = 50
    login_window_s: float = 900.0
    max_parallel_password_checks: int = 2

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(Path(self.data_dir) / 'attunexr.db').resolve()}"
