"""Database engine, sessions and schema upgrades (Alembic migrations shipped inside the package)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from attunexr.errors import ConfigurationError

__all__ = ["Database", "MIGRATIONS_DIR", "sqlite_url"]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path).resolve()}"


class Database:
    """One database: an engine, a session factory and :meth:`upgrade` to the newest schema.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///path.db`` (default for demos) or ``postgresql+psycopg://...`` for clinics.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except Exception as err:  # noqa: BLE001 - SQLAlchemy raises several types for a bad URL or missing driver
            raise ConfigurationError(f"cannot open database {url!r}: {err}") from err
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied (creates the schema on a new database)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        logger.info("database %s at newest schema", self.engine.url.render_as_string(hide_password=True))

    def session(self) -> Session:
        """A new ORM session (caller closes it)."""
        return self._factory()

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """An ORM session that is closed on exit (commit explicitly)."""
        db = self._factory()
        try:
            yield db
        finally:
            db.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
