"""Shared fixtures. Real data comes from ATTUNEXR_DATA; a throwaway PostgreSQL cluster for the store and web tests.

Under CI=true a missing dataset or PostgreSQL server is a failure, never a skip."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from attunexr.io import data_root

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _missing(msg: str) -> NoReturn:
    """Fail under CI=true (the environment must provide what a test needs), skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def _require(path: Path) -> Path:
    if not path.is_dir():
        _missing(
            f"real dataset folder {path} is missing; set ATTUNEXR_DATA to the folder holding the datasets"
        )
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder holding the real datasets (``stress-predict/``, ``vr-cybersickness/``)."""
    return _require(data_root())


@pytest.fixture(scope="session")
def stress_predict_dir(data_dir: Path) -> Path:
    return _require(data_dir / "stress-predict")


@pytest.fixture(scope="session")
def vr_cybersickness_dir(data_dir: Path) -> Path:
    return _require(data_dir / "vr-cybersickness")


@pytest.fixture(scope="session")
def vr_fms_motion_dir(data_dir: Path) -> Path:
    return _require(data_dir / "vr-fms-motion")


@pytest.fixture(scope="session")
def nurse_stress_dir(data_dir: Path) -> Path:
    return _require(data_dir / "nurse-stress")


def require_installed(msg: str) -> NoReturn:
    """Something the environment must provide is missing: fail under CI=true, skip elsewhere."""
    _missing(msg)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save files a person should look at (screenshots, reports)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# ---------------------------------------------------------------------------------------------------- PostgreSQL
PG_INSTALL_HINT = "apt-get install -y postgresql (server binaries: initdb, pg_ctl, postgres)"


def find_pg_bindir() -> Path | None:
    """Folder holding ``initdb`` and ``pg_ctl``: PATH first, then the newest ``/usr/lib/postgresql/*/bin``."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    candidates = [
        p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if (p.parent / "pg_ctl").exists()
    ]
    candidates.sort(key=lambda b: int(b.parent.name) if b.parent.name.isdigit() else 0)
    return candidates[-1] if candidates else None


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster reachable only through a unix socket in ``socket_dir``."""

    bindir: Path
    root: Path
    data_dir: Path
    socket_dir: Path
    run_as: str | None  # system user owning the cluster when the tests run as root
    superuser: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.superuser}@/{database}?host={self.socket_dir}"

    def connect_admin(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir),
            user=self.superuser,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        )

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"t_{uuid.uuid4().hex}"
        with self.connect_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with self.connect_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_run(server_bindir: Path, args: list[str], run_as: str | None, timeout: float) -> None:
    cmd = [str(server_bindir / args[0]), *args[1:]]
    kwargs: dict[str, Any] = {}
    if run_as is not None:
        pw = pwd.getpwnam(run_as)
        kwargs = {
            "user": pw.pw_uid,
            "group": pw.pw_gid,
            "extra_groups": [],
            "env": {**os.environ, "HOME": pw.pw_dir},
        }
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd="/", **kwargs
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


PG_ROOT_PREFIX = "axpg-"


def _reap_orphaned_clusters(bindir: Path, run_as: str | None) -> None:
    """Stop and remove the clusters of earlier test runs that were killed before their teardown (SIGKILL, SIGTERM):
    each cluster folder names the pytest process that owns it; a cluster whose owner is gone is an orphan."""
    for owner_file in Path("/tmp").glob(f"{PG_ROOT_PREFIX}*/owner.pid"):
        root = owner_file.parent
        try:
            owner = int(owner_file.read_text())
            os.kill(owner, 0)
            continue  # its test run is still going
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue
        if (root / "data" / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                _pg_run(
                    bindir,
                    ["pg_ctl", "-D", str(root / "data"), "-m", "immediate", "-w", "-t", "15", "stop"],
                    run_as,
                    timeout=30,
                )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL cluster for the session (initdb into /tmp, unix socket only, trust auth).

    Each test asks :meth:`PostgresServer.create_database` for a fresh database. The server is stopped and its folder
    removed at the end, also when a test failed. Missing server binaries or psycopg: fail under CI=true, else skip.
    """
    bindir = find_pg_bindir()
    if bindir is None:
        _missing(
            f"PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; "
            f"install them: {PG_INSTALL_HINT}"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("psycopg is not installed; install the dev extras: pip install -e '.[dev]'")
    run_as: str | None = None
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        run_as = "postgres"
        try:
            pwd.getpwnam(run_as)
        except KeyError:
            _missing(
                f"running as root but no 'postgres' system user exists to own the test cluster; {PG_INSTALL_HINT}"
            )
    _reap_orphaned_clusters(bindir, run_as)
    # short path under /tmp: the socket path (dir + '/.s.PGSQL.5432') must stay below the 107-byte unix limit
    root = Path(tempfile.mkdtemp(prefix=PG_ROOT_PREFIX, dir="/tmp"))
    (root / "owner.pid").write_text(str(os.getpid()))
    server = PostgresServer(bindir=bindir, root=root, data_dir=root / "data", socket_dir=root, run_as=run_as)
    if run_as is not None:
        pw = pwd.getpwnam(run_as)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    root.chmod(0o700)
    started = False
    try:
        _pg_run(
            bindir,
            [
                "initdb",
                "-D",
                str(server.data_dir),
                "-U",
                server.superuser,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            run_as,
            timeout=120,
        )
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{root}' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        started = True  # from here on a half-started server must be stopped
        _pg_run(
            bindir,
            [
                "pg_ctl",
                "-D",
                str(server.data_dir),
                "-o",
                options,
                "-l",
                str(root / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            run_as,
            timeout=90,
        )
        yield server
    finally:
        if started:
            try:
                _pg_run(
                    bindir,
                    ["pg_ctl", "-D", str(server.data_dir), "-m", "fast", "-w", "-t", "30", "stop"],
                    run_as,
                    timeout=45,
                )
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    _pg_run(
                        bindir,
                        ["pg_ctl", "-D", str(server.data_dir), "-m", "immediate", "-w", "-t", "15", "stop"],
                        run_as,
                        timeout=30,
                    )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh, empty database on the test cluster, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


# ---------------------------------------------------------------------------------------------------- clinician words
#: What must never reach a clinician or reviewer: module paths, class names, microsecond times, Python reprs and
#: dicts, ``None``, and snake_case codes or keys (they get a sentence or a label from :mod:`attunexr.words`).
_LEAKS = {
    "module name": r"attunexr\.[a-z]",
    "class name": r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)*(?:Controller|Monitor|Supervisor|Stream|Source|Detector|Estimator"
                  r"|Classifier|Regression|Pipeline|Engine|Tracker)\b",
    "microsecond time": r"\d{2}:\d{2}:\d{2}\.\d{3,}",
    "Python dict or repr": r"\{'|\{\"|\[\{|\['|<[a-z_.]+ object at",
    "Python None": r"\bNone\b",
    "snake_case code or key": r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b",
}


def clinician_text_problems(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Every piece of ``text`` a clinician should not read, as ``kind: 'match' in '...context...'``."""
    import re

    problems = []
    for kind, pattern in _LEAKS.items():
        for m in re.finditer(pattern, text):
            if m.group(0) in allowed:
                continue
            context = text[max(0, m.start() - 40):m.end() + 40].replace("\n", " ")
            problems.append(f"{kind}: {m.group(0)!r} in {context!r}")
    return problems


def visible_html_text(page: str) -> str:
    """The text a browser shows for ``page`` (no tags, scripts, styles or attribute values)."""
    import html as html_lib
    import re

    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture(scope="session")
def clinician_words() -> Any:
    """A checker: ``clinician_words(text, allowed=())`` fails the test listing every leak found in ``text``."""

    def check(text: str, allowed: tuple[str, ...] = ()) -> None:
        problems = clinician_text_problems(text, allowed)
        assert not problems, f"{len(problems)} leaks into clinician-facing text:\n" + "\n".join(problems[:40])

    return check
