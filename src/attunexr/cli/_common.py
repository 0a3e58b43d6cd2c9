"""What every ``attunexr`` command shares: option meanings, error reporting, JSON output.

The command-line contract, the same in every command:

- ``--subjects`` takes a comma list (``S02,S03``) and the repeated form (``--subjects S02 --subjects S03``), or
  both mixed; every subject given is used (:func:`split_subjects`).
- ``--json PATH`` writes the command's result as JSON to PATH (``--json -`` prints it to standard output instead);
  without it, standard output gets a short human summary (:func:`write_json`).
- ``--data-dir`` is the folder holding the datasets (else ``$ATTUNEXR_DATA``); ``--app-dir`` is the folder of the
  web app's database, keys and reports (``--data`` is its deprecated old name).
- Any error ends the command with one line ``error: ...`` on standard error and a non-zero status (2 for a problem
  attunexr recognised, 1 for an unexpected one); ``attunexr --debug COMMAND`` shows the traceback instead.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import typer
from rich.console import Console

from attunexr.errors import AttunexrError, ConfigurationError

err_console = Console(stderr=True)
T = TypeVar("T")

#: Exceptions that end a command on purpose (exit codes, usage errors): never turned into "unexpected" errors.
#: Recent typer releases carry their own copy of click, so its ClickException is found through typer.
_CLICK_EXCEPTIONS: tuple[type[BaseException], ...] = tuple(
    {c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"} | {click.exceptions.ClickException}
)
_PASS_THROUGH: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, KeyboardInterrupt, *_CLICK_EXCEPTIONS)

#: Set by ``attunexr --debug``: errors show their traceback instead of one line.
_state = {"debug": False}

SUBJECTS_HELP = "Subjects: a comma list (S02,S03) and/or repeated (--subjects S02 --subjects S03)"
DEFAULT_APP_DIR = Path("attunexr-data")


def set_debug(on: bool) -> None:
    """Show tracebacks (``--debug``) or one-line errors (default)."""
    _state["debug"] = bool(on)


def debug_enabled() -> bool:
    """Whether ``--debug`` was given."""
    return _state["debug"]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def print_error(message: str) -> None:
    """Print ``error: message`` on one line of standard error."""
    err_console.print(f"[bold red]error:[/] {_one_line(message)}", highlight=False, soft_wrap=True)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn any error into one ``error: ...`` line and a non-zero exit (the traceback only with ``--debug``).

    An :class:`AttunexrError` (bad input, missing data, ...) exits with status 2; anything else is unexpected and
    exits with status 1, naming its type.
    """
    try:
        yield
    except _PASS_THROUGH:
        raise
    except AttunexrError as err:
        if debug_enabled():
            raise
        print_error(str(err))
        raise typer.Exit(2) from err
    except Exception as err:
        if debug_enabled():
            raise
        print_error(f"{type(err).__name__}: {err} (unexpected; `attunexr --debug ...` shows the traceback)")
        raise typer.Exit(1) from err


def run_cli(fn: Callable[[], T]) -> T:
    """Call ``fn`` under :func:`cli_errors`."""
    with cli_errors():
        return fn()


def subjects_option(help: str = SUBJECTS_HELP + " (default: all).") -> Any:
    """The ``--subjects`` option: declare the parameter as ``list[str] | None`` and pass it to :func:`split_subjects`."""
    return typer.Option(None, "--subjects", help=help, metavar="S1,S2")


def split_subjects(values: Iterable[str] | str | None) -> list[str] | None:
    """Every subject of ``--subjects`` values, each a name or a comma list, in order and without repeats.

    ``None`` (or only empty items) means "not given". Nothing given is dropped: ``["S02", "S03,S04"]`` gives
    ``["S02", "S03", "S04"]``.
    """
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        for part in str(value).split(","):
            name = part.strip()
            if name and name not in out:
                out.append(name)
    return out or None


def json_option(what: str = "the result") -> Any:
    """The ``--json PATH`` option (``-`` = standard output); declare the parameter as ``str | None``."""
    return typer.Option(
        None, "--json", metavar="PATH", help=f"Write {what} as JSON to PATH ('-' prints it to standard output)."
    )


def _default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def dumps(obj: Any, indent: int | None = 2) -> str:
    """JSON text of a result (numpy scalars and arrays converted, anything else as text)."""
    return json.dumps(obj, indent=indent, default=_default)


def write_json(obj: Any, target: str | Path, indent: int | None = 2) -> Path | None:
    """Write ``obj`` as JSON to the file ``target`` atomically, or to standard output when ``target`` is ``-``.

    Returns the path written (``None`` for standard output).
    """
    text = dumps(obj, indent=indent) + "\n"
    if str(target) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    return write_text_atomic(Path(target), text)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write text through a temporary file in the same folder and a rename: never a half-written file."""
    if path.is_dir():
        raise ConfigurationError(f"--json {path}: is a folder; give a file name such as {path / 'result.json'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def data_dir_option() -> Any:
    """The ``--data-dir`` option: the folder holding the datasets."""
    return typer.Option(
        None, "--data-dir", help="Folder holding the datasets (default: $ATTUNEXR_DATA, then ../shared/data)."
    )


def app_dir_option(help: str = "Folder for the web app's database, keys and reports.") -> Any:
    """The ``--app-dir`` option; pair it with :func:`legacy_data_option` and :func:`resolve_app_dir`."""
    return typer.Option(None, "--app-dir", help=f"{help} [default: {DEFAULT_APP_DIR}]")


def legacy_data_option() -> Any:
    """The deprecated ``--data`` spelling of ``--app-dir`` (hidden; accepted with a warning)."""
    return typer.Option(None, "--data", hidden=True, help="Deprecated: use --app-dir.")


def resolve_app_dir(app_dir: Path | None, legacy_data: Path | None) -> Path:
    """The app folder from ``--app-dir`` or the deprecated ``--data`` (a warning names the new option)."""
    if legacy_data is not None:
        if app_dir is not None and Path(app_dir) != Path(legacy_data):
            raise ConfigurationError(
                f"--data {legacy_data} and --app-dir {app_dir} disagree; --data is the old name of --app-dir, "
                "give only --app-dir"
            )
        err_console.print(
            "[yellow]warning:[/] --data is deprecated (it was easy to confuse with --data-dir, the datasets "
            "folder); use --app-dir",
            highlight=False,
            soft_wrap=True,
        )
        return Path(legacy_data)
    return Path(app_dir) if app_dir is not None else DEFAULT_APP_DIR


class _NoTraceback(logging.Formatter):
    """Log lines without the traceback of an exception (``--debug`` keeps them)."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.exc_info[1] is not None:
            err = record.exc_info[1]
            record = logging.makeLogRecord(record.__dict__)
            record.msg = f"{record.getMessage()}: {type(err).__name__}: {_one_line(str(err))}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return super().format(record)


def configure_logging(verbose: bool, debug: bool) -> None:
    """Log warnings (default), progress (``--verbose``) or everything (``--debug``) to standard error.

    Without ``--debug`` a logged exception is one line (its type and message), never a traceback.
    """
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler()
    fmt = "%(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt) if debug else _NoTraceback(fmt))
    logging.basicConfig(level=level, handlers=[handler], force=True)
