"""The FastAPI app factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError

from attunexr import __version__
from attunexr.errors import (
    AttunexrError,
    AuthorizationError,
    ConfigurationError,
    DatasetNotFoundError,
    ProtocolError,
    SafetyError,
)
from attunexr.web import _api, _pages, _sickness, _ws
from attunexr.web._pages import _LoginRedirect
from attunexr.web._services import WebServices
from attunexr.web._settings import Settings

__all__ = ["create_app"]

logger = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).with_name("static")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Create the attunexr web app: REST API (``/api``, schema at ``/openapi.json``), pages, WebSockets, static
    files (vendored uPlot and three.js) and the WebXR client.

    Parameters
    ----------
    settings
        Where data lives and how sessions run; default :class:`Settings` (SQLite under ``./attunexr-data``).
    """
    settings = settings or Settings()
    services = WebServices(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await services.shutdown()

    app = FastAPI(title="attunexr", version=__version__, lifespan=lifespan,
                  description="Clinician web app and WebXR client of attunexr: patients, consent, session plans, "
                              "live supervision with approvals, reports, hash-chained audit log.")
    app.state.services = services
    app.state.settings = settings
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(_api.router)
    app.include_router(_pages.router)
    app.include_router(_ws.router)
    app.include_router(_sickness.router)

    @app.exception_handler(_LoginRedirect)
    async def _to_login(request: Request, exc: _LoginRedirect) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(AttunexrError)
    async def _attunexr_error(request: Request, exc: AttunexrError) -> Response:
        status = 400
        if isinstance(exc, SafetyError):
            status = 409
        elif isinstance(exc, AuthorizationError):
            status = 403
        elif isinstance(exc, DatasetNotFoundError):
            status = 404
        elif isinstance(exc, ConfigurationError | ProtocolError):
            status = 400
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(DataError)
    async def _unstorable_value(request: Request, exc: DataError) -> Response:
        # PostgreSQL refuses what SQLite stores silently (NUL characters in text, text longer than its column): the
        # caller sent a value that cannot be stored, which is a 422, not a server error
        logger.warning("%s %s: the database refused a value: %s", request.method, request.url.path, exc.orig)
        return JSONResponse({"detail": "a value cannot be stored: text must not contain NUL characters and must "
                                       "fit its field"}, status_code=422)

    @app.middleware("http")
    async def _security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.url.path.startswith(("/api", "/sessions", "/patients")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
