"""FastAPI dependencies: services, database sessions, the signed-in caller and CSRF checks; shared parameter types."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy.orm import Session

from attunexr.web._auth import SAFE_METHODS, Principal, check_csrf, principal_from_token, token_from
from attunexr.web._schemas import MAX_ID
from attunexr.web._services import WebServices

__all__ = ["IdPath", "get_db", "get_principal", "get_services", "get_writer", "optional_principal",
           "unprocessable"]

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a database id")]


def unprocessable(message: str, *loc: str | int) -> HTTPException:
    """A 422 whose body follows the validation-error schema FastAPI declares (``detail`` is a list)."""
    return HTTPException(422, [{"loc": list(loc) or ["body"], "msg": message, "type": "value_error"}])


def get_services(request: Request) -> WebServices:
    services: WebServices = request.app.state.services
    return services


def get_db(services: WebServices = Depends(get_services)) -> Iterator[Session]:
    db = services.db.session()
    try:
        yield db
    finally:
        db.close()


def optional_principal(request: Request, db: Session = Depends(get_db)) -> Principal | None:
    return principal_from_token(db, token_from(request))


def get_principal(principal: Principal | None = Depends(optional_principal)) -> Principal:
    if principal is None:
        raise HTTPException(401, "sign in first (POST /api/auth/token or the /login page)",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


async def get_writer(request: Request, principal: Principal = Depends(get_principal)) -> Principal:
    """The caller of a state-changing request, after the CSRF check for cookie logins."""
    if request.method not in SAFE_METHODS and principal.kind == "cookie":
        supplied = request.headers.get("x-csrf-token")
        if supplied is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            supplied = value if isinstance(value, str) else None
        check_csrf(principal, supplied)
    return principal
