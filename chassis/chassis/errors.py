"""The error model: services raise typed domain errors.

One handler renders them as {"detail": "<sentence>"}."""

import importlib.util

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

log = structlog.get_logger(__name__)


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


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The stack trace goes to the log, never to the client.
    log.exception("request.unhandled_error", path=request.url.path, error=repr(exc))
    return JSONResponse(status_code=500, content={"detail": "Internal server error."})


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # The pool holds no pre-pinged connections: a database that went away (or restarted, which
    # invalidates the pool) is a dependency outage, a 503 with a sentence.
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)):
        log.warning("request.database_unavailable", path=request.url.path, error=repr(exc))
        return JSONResponse(
            status_code=503, content={"detail": "The database is unavailable; try again shortly."}
        )
    return await _unexpected_error(request, exc)


async def _pool_exhausted(request: Request, exc: Exception) -> JSONResponse:
    # Every pooled connection stayed busy for the whole wait: overloaded, not broken.
    log.warning("request.database_pool_exhausted", path=request.url.path, error=repr(exc))
    return JSONResponse(
        status_code=503, content={"detail": "The database is busy; try again shortly."}
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    # SQLAlchemy is the chassis[postgres] extra: only services that have it can raise its errors.
    if importlib.util.find_spec("sqlalchemy") is not None:
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        app.add_exception_handler(DBAPIError, _database_error)
        app.add_exception_handler(PoolTimeout, _pool_exhausted)
    app.add_exception_handler(Exception, _unexpected_error)
