"""PostgreSQL plumbing shared by the services that own a PostgreSQL database: their settings,
the pooled async engine, the fast path for hot reads, the readiness probe, and the one
repository shape (`Database` and its `UnitOfWork`) that keeps sessions, transactions and driver
errors out of the services' business rules."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ClassVar, Generic, TypeVar

import asyncpg
from pydantic import Field
from sqlalchemy import MetaData, Table, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import greenlet_spawn

from chassis.errors import DependencyUnavailable
from chassis.events import CloudEvent
from chassis.inbox import claim_event, claim_event_on_driver
from chassis.outbox import enqueue, enqueue_on_driver
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


# Constraint and index names a repository can match on (`constraint_name`), the same in every
# service's database and in its Alembic migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata() -> MetaData:
    """The `MetaData` a service's tables are declared on, with the shared naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


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


def constraint_name(error: BaseException) -> str | None:
    """The constraint an INSERT or UPDATE broke (e.g. `uq_orders_order_number`), as asyncpg
    reports it, from SQLAlchemy's IntegrityError or asyncpg's own error; None when the driver
    does not say. For a repository turning a constraint into its service's domain exception."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, sa_exc.DBAPIError) and isinstance(cause.orig, BaseException):
            cause = cause.orig
        name = getattr(cause, "constraint_name", None)
        if isinstance(name, str):
            return name
        cause = cause.__cause__
    return None


class UnitOfWork:
    """One session of a service's repository. A service subclasses it with its queries (methods
    that return the service's domain objects, never driver rows) and names its outbox table;
    `enqueue` and `claim_event` put the outbox row and the inbox mark in the same transaction
    as the change. The service layer sees only these methods, no session."""

    outbox: ClassVar[Table | None] = None

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(self, topic: str, event: CloudEvent, key: str | None = None) -> None:
        """`event` leaves through the outbox once (and only if) this transaction commits."""
        if self.outbox is None:
            raise TypeError(f"{type(self).__name__} names no outbox table")
        await enqueue(self.session, self.outbox, topic, event, key=key)

    async def claim_event(self, consumer: str, event_id: str) -> bool:
        """True the first time `consumer` sees `event_id` (chassis.inbox): the mark commits, or
        rolls back, with the effect."""
        return await claim_event(self.session, consumer, event_id)


class DriverUnitOfWork:
    """One transaction on a pooled connection's own asyncpg connection
    (`Database.driver_transaction`), for a hot write path: no session, no statement
    compilation, each SQL text prepared once per connection. Subclasses spell their statements
    in SQL (`INSERT ... RETURNING` instead of reading back) and name their outbox table;
    `enqueue` and `claim_event` write the outbox and the inbox in the same transaction. Driver
    errors arrive as asyncpg's own."""

    outbox: ClassVar[Table | None] = None

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def enqueue(self, topic: str, event: CloudEvent, key: str | None = None) -> None:
        """`event` leaves through the outbox once (and only if) this transaction commits."""
        if self.outbox is None:
            raise TypeError(f"{type(self).__name__} names no outbox table")
        await enqueue_on_driver(self.connection, self.outbox, topic, event, key=key)

    async def claim_event(self, consumer: str, event_id: str) -> bool:
        """True the first time `consumer` sees `event_id` (chassis.inbox): the mark commits, or
        rolls back, with the effect."""
        return await claim_event_on_driver(self.connection, consumer, event_id)


U = TypeVar("U", bound=UnitOfWork)
D = TypeVar("D", bound=DriverUnitOfWork)


class Database(Generic[U]):
    """A service's PostgreSQL behind its units of work: the pool, one transaction per
    `transaction()`, plain reads in `session()`, the fast path (`driver_connection`) for the
    repository's hot reads, and `ping`/`close` for the service's components."""

    def __init__(self, engine: AsyncEngine, unit_of_work: Callable[[AsyncSession], U]) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._unit_of_work = unit_of_work

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[U]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        async with self._sessions.begin() as session:
            yield self._unit_of_work(session)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[U]:
        """Reads: nothing is committed (the session rolls back when the block ends)."""
        async with self._sessions() as session:
            yield self._unit_of_work(session)

    def driver_connection(self) -> AbstractAsyncContextManager[Any]:
        """`driver_connection(engine)` on this pool: for the repository's hot reads."""
        return driver_connection(self.engine)

    @asynccontextmanager
    async def driver_transaction(self, unit_of_work: Callable[[Any], D]) -> AsyncIterator[D]:
        """One transaction on the pooled asyncpg connection: committed when the block ends,
        rolled back when it raises; a connection found dead answers 503 (driver_connection)."""
        async with driver_connection(self.engine) as connection, connection.transaction():
            yield unit_of_work(connection)

    async def ping(self) -> None:
        await ping(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()
