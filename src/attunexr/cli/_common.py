"""Helpers shared by CLI commands: turning attunexr errors into clear one-line messages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from rich.console import Console

from attunexr.errors import AttunexrError

err_console = Console(stderr=True)
T = TypeVar("T")


@contextmanager
def cli_errors() -> Iterator[None]:
    """Print an :class:`AttunexrError` as ``error: ...`` and exit with status 2 instead of a traceback."""
    try:
        yield
    except AttunexrError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from err


def run_cli(fn: Callable[[], T]) -> T:
    with cli_errors():
        return fn()
