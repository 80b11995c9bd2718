"""PostgreSQL plumbing shared by the services that own a PostgreSQL database: their settings,
the pooled async engine, the fast path for hot reads, and the readiness probe."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from pydantic import Field
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn

from chassis.errors import DependencyUnavailable
from chassis.settings import BaseServiceSettings
from chassis.tracing import instrument_engine


class PostgresServiceSettings(BaseServiceSettings):
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    # The pool holds as many connections as requests run at once (uvicorn's peak concurrency
    # under load): overflow connections are opened and closed per burst (a new PostgreSQL
    # backend each time), which cost more than the queries (bench/hot_paths.py).
    db_pool_size: int = Field(default=32, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    # Alembic upgrade at start-up; an advisory lock makes concurrent replicas take turns.
    run_migrations: bool = True
    # The background relay publishing the outbox; tests switch it off to drive it by hand.
    run_outbox_relay: bool = True


def database_unavailable() -> DependencyUnavailable:
    return DependencyUnavailable("The database is unavailable; try again shortly.")


LOST_CONNECTION = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    OSError,
)


def create_engine(settings: PostgresServiceSettings) -> AsyncEngine:
    """The process's one pool. Waiting for a free connection is bounded like any outbound call.
    No pre-ping (a round trip per checkout): a connection found dead raises on use, SQLAlchemy
    invalidates the whole pool, and the request answers 503 (chassis errors) once."""
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.http_timeout_seconds,
    )
    instrument_engine(engine)
    return engine


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A pooled connection's own asyncpg connection, for hot single-statement reads: no
    session, no statement compilation, no BEGIN/ROLLBACK (each statement runs on its own);
    asyncpg prepares each SQL text once per connection and reuses it. Anything that writes
    goes through a session, as everywhere else."""
    try:
        fairy = await greenlet_spawn(engine.sync_engine.raw_connection)
    except (sa_exc.OperationalError, sa_exc.InterfaceError, OSError) as error:
        raise database_unavailable() from error
    try:
        yield fairy.driver_connection
    except LOST_CONNECTION as error:
        # A connection that died (server restarted) leaves the pool; the next one is new.
        fairy.invalidate(error)
        raise database_unavailable() from error
    finally:
        await greenlet_spawn(fairy.close)


async def ping(engine: AsyncEngine) -> None:
    """Readiness: the database answers a query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
