"""The ``attunexr`` command."""

from attunexr.cli._app import app, main

__all__ = ["app", "main"]
