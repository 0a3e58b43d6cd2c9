"""``attunexr demo`` and ``attunexr serve``: run the clinician web app."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer

from attunexr.cli._app import app
from attunexr.cli._common import app_dir_option, cli_errors, legacy_data_option, resolve_app_dir
from attunexr.errors import ConfigurationError

logger = logging.getLogger(__name__)

ADMIN_PASSWORD_ENV = "ATTUNEXR_ADMIN_PASSWORD"


def admin_password(password_file: Path | None) -> str:
    """The new admin's password: from ``password_file`` (first line), else ``$ATTUNEXR_ADMIN_PASSWORD``, else a
    hidden prompt (typed twice); never from the command line, where other users of the machine can read it."""
    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise ConfigurationError(f"cannot read the admin password file {password_file}: {err.strerror}") from err
        if not lines or not lines[0]:
            raise ConfigurationError(f"{password_file}: the first line must hold the password")
        return lines[0]
    if os.environ.get(ADMIN_PASSWORD_ENV):
        return os.environ[ADMIN_PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise ConfigurationError(f"no admin password: give --admin-password-file FILE or set {ADMIN_PASSWORD_ENV}, "
                                 "or run in a terminal to be asked")
    first = typer.prompt("password of the new admin", hide_input=True)
    if typer.prompt("the same password again", hide_input=True) != first:
        raise ConfigurationError("the two passwords differ; nothing was changed")
    return str(first)


def _run(application: object, host: str, port: int) -> None:
    import uvicorn

    # uvicorn handles Ctrl-C: it stops accepting, runs the app's shutdown (every live session is stopped and
    # recorded as ended) and exits.
    uvicorn.run(application, host=host, port=port, log_level="warning", ws_max_size=1 << 20)  # type: ignore[arg-type]


@app.command("demo")
def demo(
    port: int = typer.Option(8000, "--port", help="Port on 127.0.0.1."),
    password: str | None = typer.Option(None, "--password", help="Password of the demo clinician (default: random, printed; at least 12 characters, not a common one)."),
    replay: str | None = typer.Option(None, "--replay", metavar="DATASET:SUBJECT",
                                      help="Drive the session with a real recording, e.g. stress-predict:S02, instead of a virtual patient."),
    app_dir: Path | None = app_dir_option("Folder for the SQLite database, keys and reports."),
    legacy_data: Path | None = legacy_data_option(),
    scenario: str = typer.Option("heights", "--scenario", help="heights, spiders or public_speaking."),
    speed: float = typer.Option(4.0, "--speed", help="Session seconds per wall-clock second (default 4: the AI's "
                                "resting baseline and first proposal come within about a minute and a half; the "
                                "dashboard shows the factor; 1 = real time)."),
) -> None:
    """Start the web app on 127.0.0.1 with a demo clinic, clinician, patient and a live session to steer."""
    with cli_errors():
        data = resolve_app_dir(app_dir, legacy_data)
        from attunexr.exposure import BUILTIN_HIERARCHIES
        from attunexr.web import Settings, create_app

        if scenario not in BUILTIN_HIERARCHIES:
            raise ConfigurationError(f"unknown scenario {scenario!r}; choose one of {', '.join(BUILTIN_HIERARCHIES)}")
        if password is not None:
            from attunexr.store import check_password_policy

            check_password_policy(password, "clinician")  # before anything is created
        if replay:
            from attunexr.web import load_replay_recording

            load_replay_recording(replay)  # a wrong dataset or subject fails now, with the reason
        settings = Settings(data_dir=data, speed=speed)
        application = create_app(settings)
        source = f"replay:{replay}" if replay else "virtual"
        account = application.state.services.ensure_demo(password, source=source, scenario=scenario)
    url = f"http://127.0.0.1:{port}"
    typer.echo(f"attunexr demo: {url}  (data in {data.resolve()})")
    typer.echo(f"  sign in as '{account.username}' with password: {account.password}")
    typer.echo(f"  then press 'Start session' for session #{account.session_id} ({scenario}, signals: {source});")
    typer.echo("  the dashboard links to the VR client. Ctrl-C stops cleanly.")
    _run(application, "127.0.0.1", port)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (put TLS in front for a clinic)."),
    port: int = typer.Option(8000, "--port"),
    database_url: str | None = typer.Option(None, "--database-url", envvar="ATTUNEXR_DATABASE_URL",
                                            help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/attunexr (default SQLite under --app-dir)."),
    app_dir: Path | None = app_dir_option("Folder for keys, reports and the default SQLite database."),
    legacy_data: Path | None = legacy_data_option(),
    create_admin: str | None = typer.Option(
        None, "--create-admin", metavar="NAME",
        help=f"Create (or reset the password of) the admin account NAME. The password comes from "
             f"--admin-password-file, else ${ADMIN_PASSWORD_ENV}, else a hidden prompt; never from the command line."),
    admin_password_file: Path | None = typer.Option(
        None, "--admin-password-file", metavar="FILE", help="File whose first line is the new admin's password."),
    models_dir: Path | None = typer.Option(
        None, "--models-dir", metavar="DIR",
        help="Folder of the clinic's own models (DIR/NAME/model.joblib with its card), besides the shipped registry."),
    secure_cookies: bool = typer.Option(False, "--secure-cookies",
                                        help="Send the login cookie over HTTPS only and send HSTS."),
) -> None:
    """Run the web app for real use (migrations are applied on start)."""
    with cli_errors():
        data = resolve_app_dir(app_dir, legacy_data)
        from attunexr.store import check_password_policy
        from attunexr.web import Settings, create_app

        if admin_password_file is not None and not create_admin:
            raise ConfigurationError("--admin-password-file needs --create-admin NAME")
        password = None
        if create_admin:
            password = admin_password(admin_password_file)
            check_password_policy(password, create_admin)  # before anything is created
        if models_dir is not None and not models_dir.is_dir():
            raise ConfigurationError(f"--models-dir {models_dir}: no such folder")
        settings = Settings(data_dir=data, database_url=database_url, secure_cookies=secure_cookies,
                            models_dir=models_dir.resolve() if models_dir is not None else None)
        application = create_app(settings)
        if create_admin and password is not None:
            application.state.services.ensure_admin(password, create_admin)
            typer.echo(f"admin account {create_admin!r} ready")
    typer.echo(f"attunexr serving on http://{host}:{port}")
    _run(application, host, port)
