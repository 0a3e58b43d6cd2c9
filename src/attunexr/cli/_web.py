"""``attunexr demo`` and ``attunexr serve``: run the clinician web app."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from attunexr.cli._app import app
from attunexr.cli._common import app_dir_option, cli_errors, legacy_data_option, resolve_app_dir

logger = logging.getLogger(__name__)


def _run(application: object, host: str, port: int) -> None:
    import uvicorn

    # uvicorn handles Ctrl-C: it stops accepting, runs the app's shutdown (every live session is stopped and
    # recorded as ended) and exits.
    uvicorn.run(application, host=host, port=port, log_level="warning", ws_max_size=1 << 20)  # type: ignore[arg-type]


@app.command("demo")
def demo(
    port: int = typer.Option(8000, "--port", help="Port on 127.0.0.1."),
    password: str | None = typer.Option(None, "--password", help="Password of the demo clinician (default: random, printed)."),
    replay: str | None = typer.Option(None, "--replay", metavar="DATASET:SUBJECT",
                                      help="Drive the session with a real recording, e.g. stress-predict:S02, instead of a virtual patient."),
    app_dir: Path | None = app_dir_option("Folder for the SQLite database, keys and reports."),
    legacy_data: Path | None = legacy_data_option(),
    scenario: str = typer.Option("heights", "--scenario", help="heights, spiders or public_speaking."),
    speed: float = typer.Option(1.0, "--speed", help="Session seconds per second (1 = real time)."),
) -> None:
    """Start the web app on 127.0.0.1 with a demo clinic, clinician, patient and a live session to steer."""
    with cli_errors():
        data = resolve_app_dir(app_dir, legacy_data)
        from attunexr.web import Settings, create_app
        from attunexr.web._engine import default_levels

        default_levels(scenario)  # validates the scenario name with a clear error
        if replay:
            from attunexr.web._live_bridge import load_replay_recording

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
    admin_password: str | None = typer.Option(None, "--create-admin", metavar="PASSWORD",
                                              help="Create (or reset) the account 'admin' with this password."),
    secure_cookies: bool = typer.Option(False, "--secure-cookies", help="Send the login cookie over HTTPS only."),
) -> None:
    """Run the web app for real use (migrations are applied on start)."""
    with cli_errors():
        data = resolve_app_dir(app_dir, legacy_data)
        from attunexr.web import Settings, create_app

        settings = Settings(data_dir=data, database_url=database_url, secure_cookies=secure_cookies)
        application = create_app(settings)
        if admin_password:
            application.state.services.ensure_admin(admin_password)
            typer.echo("account 'admin' ready")
    typer.echo(f"attunexr serving on http://{host}:{port}")
    _run(application, host, port)
