"""The FastAPI app factory."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attunexr import __version__
from attunexr.errors import (
    AttunexrError,
    AuthorizationError,
    ConfigurationError,
    DatasetNotFoundError,
    ProtocolError,
    SafetyError,
)
from attunexr.store import PasswordHashingBusyError
from attunexr.web import _api, _pages, _sickness, _trials_api, _trials_pages, _ws
from attunexr.web._auth import LoginThrottledError
from attunexr.web._pages import _LoginRedirect
from attunexr.web._services import WebServices
from attunexr.web._settings import Settings

__all__ = ["create_app"]

logger = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).with_name("static")

# Content-Security-Policy of the app's pages: scripts only from the app itself or inline with this response's nonce
# (the WebXR client's import map), no plugins, no framing, forms and connections (including WebSockets) to the app
# only. Inline styles stay allowed (the VR client and the report carry a <style> block; the scripts set styles).
PAGE_CSP = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
# The interactive API docs (/docs, /redoc) are FastAPI's pages, which load Swagger UI or ReDoc from their CDN and
# start it with an inline script; they hold no patient data.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
            "font-src 'self' https://fonts.gstatic.com; worker-src blob:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"


class SecurityHeadersMiddleware:
    """Security headers on every response: a Content-Security-Policy on pages (with a fresh nonce per response,
    put in ``request.state.csp_nonce`` for the templates) and on API answers, ``nosniff``, no framing, a same-origin
    referrer, ``no-store`` on everything that may carry patient data, and HSTS when the app runs behind HTTPS."""

    NO_STORE = ("/api", "/sessions", "/patients", "/account", "/admin", "/trials")

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app, self.hsts = app, hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                extra = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                         "Referrer-Policy": "same-origin"}
                if headers.get("content-type", "").startswith("text/html"):
                    extra["Content-Security-Policy"] = (DOCS_CSP if path in ("/docs", "/redoc")
                                                        else PAGE_CSP.format(nonce=nonce))
                elif path.startswith("/api") or path == "/openapi.json":
                    extra["Content-Security-Policy"] = API_CSP
                if self.hsts:
                    extra["Strict-Transport-Security"] = HSTS
                if path.startswith(self.NO_STORE):
                    extra["Cache-Control"] = "no-store"
                for name, value in extra.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large: at most {limit} bytes are accepted")


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 before they are read or parsed.

    A declared ``Content-Length`` over the limit is answered at once; a body without one (chunked) is counted as it
    streams in and cut off at the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def _refuse(self, send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close"), (b"x-content-type-options", b"nosniff")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await self._refuse(send, 400, "Content-Length is not a number")
                return
            if length > self.max_bytes:
                await self._refuse(send, 413, str(_BodyTooLarge(self.max_bytes).detail))
                return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _BodyTooLarge as err:
            if started:
                raise
            await self._refuse(send, 413, str(err.detail))


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
    app.include_router(_trials_api.router)
    app.include_router(_trials_pages.router)
    app.include_router(_sickness.router)

    @app.exception_handler(_LoginRedirect)
    async def _to_login(request: Request, exc: _LoginRedirect) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 422 and isinstance(exc.detail, str):
            # every 422 follows the validation-error schema the API declares: a list of {loc, msg, type}
            return JSONResponse({"detail": [{"loc": ["body"], "msg": exc.detail, "type": "value_error"}]},
                                status_code=422, headers=exc.headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(LoginThrottledError)
    async def _throttled(request: Request, exc: LoginThrottledError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=429,
                            headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(PasswordHashingBusyError)
    async def _hashing_busy(request: Request, exc: PasswordHashingBusyError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

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
        return JSONResponse({"detail": [{"loc": ["body"], "type": "value_error",
                                         "msg": "a value cannot be stored: text must not contain NUL characters "
                                                "and must fit its field"}]}, status_code=422)

    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.secure_cookies)
    # outermost: a too large body is refused before any other work
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)

    return app
