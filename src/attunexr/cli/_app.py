"""The typer application. Each command group lives in its own module and registers itself on ``app`` here."""

from __future__ import annotations

import logging

import typer

app = typer.Typer(
    name="attunexr",
    help="attunexr: AI-assisted VR mental-health care and research under clinician supervision.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


# Command modules: importing one registers its commands on `app`. One line per module.
from attunexr.cli import (  # noqa: E402,F401
    _bids,
    _datasets,
    _features,
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
    app()
