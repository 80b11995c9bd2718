"""The error model: services raise typed domain errors.

One handler renders them as {"detail": "<sentence>"}. A dependency that is down (any error the
registry in ``chassis.dependencies`` names) is a 503 with a sentence, never a bare 500; a 405
names every method the path allows; a validation error echoes the caller's input only in a
form that can always be serialised."""

import math
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from chassis.dependencies import dependency_error_types, describe_outage

log = structlog.get_logger(__name__)

# Seconds a client is told to wait after a 503 for a dependency outage.
OUTAGE_RETRY_AFTER_SECONDS = 5


class DomainError(Exception):
    """A business rule said no. The message is a sentence meant for the client."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(DomainError):
    status_code = 400


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Unprocessable(DomainError):
    status_code = 422


class DependencyUnavailable(DomainError):
    status_code = 503


class DependencyTimeout(DomainError):
    status_code = 504


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail})


def outage_response(what: str) -> JSONResponse:
    return JSONResponse(
        status_code=503,
        content={"detail": f"{what} is unavailable; please retry in a few seconds."},
        headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    what = describe_outage(exc)
    if what is not None:
        log.warning(
            "request.dependency_unavailable",
            path=request.url.path,
            dependency=what,
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
        return outage_response(what)
    # The stack trace goes to the log, never to the client.
    log.exception("request.unhandled_error", path=request.url.path, error=repr(exc))
    return JSONResponse(status_code=500, content={"detail": "Internal server error."})


PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path, found by asking the router itself (so
    included routers, mounts and prefixes count as they do when a request is dispatched)."""
    allowed = []
    for method in PROBED_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        return JSONResponse(
            status_code=405,
            content={
                "detail": f"{request.method} is not allowed here; use "
                f"{', '.join(allowed) or 'another path'}."
            },
            headers={"Allow": ", ".join(allowed)},
        )
    return await http_exception_handler(request, exc)


def printable(value: Any) -> Any:
    """``value`` with everything JSON cannot carry made printable: non-finite numbers become
    their name, lone surrogates a backslash escape, bytes text, anything else its str()."""
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(printable(k)): printable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [printable(v) for v in value]
    return printable(str(value))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": printable(list(exc.errors()))})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Driver errors are caught where the route runs (no traceback logged for an outage);
    # anything else, or an outage wrapped in another error, reaches the catch-all below.
    for kind in dependency_error_types():
        if issubclass(kind, Exception):
            app.add_exception_handler(kind, _unexpected_error)
    app.add_exception_handler(Exception, _unexpected_error)
