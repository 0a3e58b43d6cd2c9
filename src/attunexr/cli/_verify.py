"""``attunexr verify``: check the audit chain, every session log and every signed checkpoint of a data folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from attunexr.cli._app import app
from attunexr.cli._common import (
    app_dir_option,
    cli_errors,
    json_option,
    legacy_data_option,
    resolve_app_dir,
    write_json,
)

LOG_PATTERNS = ("*.axlog", "*.axr")


def _checkpoint_files(data: Path) -> list[Path]:
    from attunexr.privacy import CHECKPOINT_FILE

    return sorted(p for p in data.rglob(CHECKPOINT_FILE) if p.is_file())


def run_verify(data: Path, database_url: str | None) -> dict[str, Any]:
    """Check everything in ``data`` (and the database) and return the result as a JSON-ready dict."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import SQLAlchemyError

    from attunexr.errors import ConfigurationError
    from attunexr.privacy import (
        MASTER_KEY_ENV,
        Checkpoint,
        CheckpointFile,
        checkpoint_key,
        load_master_key,
        verify_checkpoint,
    )
    from attunexr.session import check_session_log
    from attunexr.store import MIGRATIONS_DIR, Database, check_audit_chain, sqlite_url

    if not data.is_dir():
        raise ConfigurationError(f"{data}: no such data folder (the folder `attunexr demo`/`serve` use with --app-dir)")
    if os.environ.get(MASTER_KEY_ENV):
        master = load_master_key()
    elif (data / "master.key").is_file():
        master = load_master_key(data / "master.key")
    else:
        raise ConfigurationError(f"{data}: no master.key and {MASTER_KEY_ENV} is not set; verify needs the key the "
                                 "data was written with")
    cp_key = checkpoint_key(master)
    problems: list[str] = []
    notes: list[str] = []

    checkpoints: list[tuple[str, Checkpoint]] = []
    for f in _checkpoint_files(data):
        checkpoints += [(str(f), c) for c in CheckpointFile(f, cp_key).read()]
    for src, c in checkpoints:
        if not c.valid:
            problems.append(f"{src} line {c.line}: checkpoint signature invalid (forged, altered or another key)")

    # session logs: every file on disk, and every file a checkpoint names
    logs_out: list[dict[str, Any]] = []
    audit_cps: list[tuple[str, Checkpoint]] = [(s, c) for s, c in checkpoints if c.valid]
    found = sorted({p for pattern in LOG_PATTERNS for p in data.rglob(pattern) if p.is_file()})
    for path in found:
        check = check_session_log(path, master, checkpoints)
        problems += check.problems
        notes += check.notes
        logs_out.append({"path": str(path), "status": check.status, "segments": check.segments,
                         "entries": check.entries, "problems": check.problems})
        if check.log is not None:
            for i, copied in enumerate(check.log.records_of("audit_checkpoint"), start=1):
                if isinstance(copied.data, dict):
                    audit_cps.append((f"{path} audit_checkpoint record", Checkpoint(
                        i, copied.data, verify_checkpoint(cp_key, copied.data))))
    names = {p.name for p in found}
    for src, c in checkpoints:
        claim = c.record or {}
        if c.valid and claim.get("kind") == "session-log" and claim.get("file") not in names:
            problems.append(f"session log {claim.get('file')} is missing: {src} line {c.line} vouches for it")
    problems = list(dict.fromkeys(problems))  # a checkpoint seen by several checks is reported once

    # the audit chain
    url = database_url
    if url is None:
        db_file = data / "attunexr.db"
        if not db_file.is_file():
            raise ConfigurationError(f"{db_file}: no database here; pass --database-url for PostgreSQL")
        url = sqlite_url(db_file)
    database = Database(url, master_key=master, data_dir=data)
    audit: dict[str, Any] = {}
    try:
        with database.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        cfg_heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
        if current not in cfg_heads:
            problems.append(f"database schema is at {current!r}, not {', '.join(cfg_heads)}: start `attunexr serve` "
                            "once to upgrade it, then verify again")
        else:
            with database.begin() as s:
                report = check_audit_chain(s, [(src, c) for src, c in audit_cps if c.valid])
            audit = {"entries": report.entries, "checkpoints": report.checkpoints,
                     "head": list(report.head) if report.head else None, "problems": report.problems}
            problems += report.problems
            own = data / "checkpoints.jsonl"
            if report.entries and not own.is_file():
                problems.append(f"{own} is missing: no checkpoint outside the database vouches for the "
                                f"{report.entries} audit_log entries")
    except SQLAlchemyError as err:
        raise ConfigurationError(f"cannot read the database: {err.__class__.__name__}: {err}") from err
    finally:
        database.dispose()
    return {"ok": not problems, "data": str(data), "audit_log": audit, "session_logs": logs_out,
            "checkpoint_files": [str(f) for f in _checkpoint_files(data)], "problems": problems, "notes": notes}


@app.command("verify")
def verify(
    app_dir: Path | None = app_dir_option("The app's data folder (as given to demo/serve)."),
    legacy_data: Path | None = legacy_data_option(),
    database_url: str | None = typer.Option(None, "--database-url", envvar="ATTUNEXR_DATABASE_URL",
                                            help="SQLAlchemy URL of a PostgreSQL database (default SQLite under --app-dir)."),
    json_out: str | None = json_option("the full result"),
) -> None:
    """Check the audit chain, every session log and every signed checkpoint; exit 1 when anything is wrong."""
    with cli_errors():
        data = resolve_app_dir(app_dir, legacy_data)
        result = run_verify(data, database_url)
    for line in result["problems"]:
        typer.echo(f"PROBLEM {line}")
    audit = result["audit_log"]
    logs = result["session_logs"]
    by_status: dict[str, int] = {}
    for log in logs:
        by_status[log["status"]] = by_status.get(log["status"], 0) + 1
    status = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "none"
    typer.echo(f"audit log: {audit.get('entries', '?')} entries, {audit.get('checkpoints', 0)} checkpoints; "
               f"session logs: {len(logs)} ({status})")
    for note in result["notes"]:
        typer.echo(f"note: {note}")
    if json_out is not None:
        write_json(result, json_out)
    if result["problems"]:
        typer.echo(f"FAILED: {len(result['problems'])} problem(s)")
        raise typer.Exit(1)
    typer.echo("OK: intact")
