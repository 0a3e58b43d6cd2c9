"""Database engine, sessions and schema upgrades (Alembic migrations shipped inside the package).

A SQLite database file is created with mode 0600 (SQLite gives its ``-wal`` and ``-shm`` files the mode of the
database file) and its folder with 0700; :func:`secure_data_dir` also sets the process umask to 0077 for the app.
"""

from __future__ import annotations

import logging
import os
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
from attunexr.privacy import CHECKPOINT_FILE, MASTER_KEY_ENV, CheckpointFile, MasterKey
from attunexr.store._fieldcrypt import StoreKeys, load_store_master_key

__all__ = ["Database", "MIGRATIONS_DIR", "secure_data_dir", "sqlite_url"]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path).resolve()}"


def secure_data_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700; an existing folder is restricted to 0700) and set the process umask to 0077,
    so that everything the app writes into it afterwards (database, logs, reports) is private to its owner."""
    os.umask(0o077)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or ":memory:" in url:
        return None
    return Path(url[len(prefix):].split("?", 1)[0])


def _restrict_sqlite_files(db_file: Path) -> None:
    """Create the database file 0600 before SQLite does (its -wal/-shm inherit the mode) and restrict old ones."""
    db_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not db_file.exists():
        os.close(os.open(db_file, os.O_WRONLY | os.O_CREAT, 0o600))
    for f in (db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")):
        if f.exists() and f.stat().st_mode & 0o077:
            os.chmod(f, 0o600)


class Database:
    """One database: an engine, a session factory and :meth:`upgrade` to the newest schema.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///path.db`` (default for demos) or ``postgresql+psycopg://...`` for clinics.
    master_key
        The master key the encrypted columns, the audit chain and the checkpoints are keyed with. By default as
        ``attunexr serve`` finds it: ``$ATTUNEXR_MASTER_KEY``, else ``data_dir/master.key`` (created when missing).
        Without one (PostgreSQL, no data folder, no variable) only unencrypted tables can be used.
    data_dir
        The data folder: where ``master.key`` is looked for and the signed checkpoints of the audit chain are
        written (``checkpoints.jsonl``). Default: the folder of a SQLite file; none for PostgreSQL.
    """

    def __init__(self, url: str, master_key: MasterKey | None = None, data_dir: Path | None = None) -> None:
        self.url = url
        db_file = _sqlite_file(url)
        if data_dir is None and db_file is not None:
            data_dir = db_file.parent
        self.data_dir = Path(data_dir) if data_dir is not None else None
        if master_key is None and (self.data_dir is not None or os.environ.get(MASTER_KEY_ENV)):
            master_key = load_store_master_key(self.data_dir or Path("."))
        self.master_key = master_key
        if db_file is not None:
            _restrict_sqlite_files(db_file)
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
        self.keys = StoreKeys.from_master(master_key) if master_key is not None else None
        self.checkpoints = (CheckpointFile(self.data_dir / CHECKPOINT_FILE, self.keys.checkpoint)
                            if self.keys is not None and self.data_dir is not None else None)
        # the column types and the audit log find the keys on the dialect (they never reach the database)
        self.engine.dialect.attunexr_keys = self.keys  # type: ignore[attr-defined]
        self.engine.dialect.attunexr_checkpoints = self.checkpoints  # type: ignore[attr-defined]
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied (creates the schema on a new database)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["keys"] = self.keys
        cfg.attributes["checkpoints"] = self.checkpoints
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
