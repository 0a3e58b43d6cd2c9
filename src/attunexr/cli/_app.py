"""The typer application. Each command group lives in its own module and registers itself on ``app`` here."""

from __future__ import annotations

import sys

import typer

from attunexr.cli._common import configure_logging, debug_enabled, print_error, set_debug

app = typer.Typer(
    name="attunexr",
    help="attunexr: AI-assisted VR mental-health care and research under clinician supervision.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
    debug: bool = typer.Option(
        False, "--debug", help="Show the Python traceback of an error (default: one line `error: ...`)."
    ),
) -> None:
    set_debug(debug)
    configure_logging(verbose, debug)


# Command modules: importing one registers its commands on `app`. One line per module.
from attunexr.cli import (  # noqa: E402,F401
    _bids,
    _datasets,
    _features,
    _federated,
    _interop,
    _live,
    _models,
    _reactivity,
    _simulate,
    _trials,
    _verify,
    _web,
)


def main() -> None:
    """Entry point of the ``attunexr`` script: one ``error:`` line and a non-zero exit for anything unexpected."""
    try:
        app()
    except Exception as err:  # a command that raised outside its own error handling
        if debug_enabled():
            raise
        print_error(f"{type(err).__name__}: {err} (unexpected; `attunexr --debug ...` shows the traceback)")
        sys.exit(1)
