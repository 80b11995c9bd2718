"""PostgreSQL plumbing shared by the services that own a PostgreSQL database: their settings,
the pooled async engine, and the readiness probe."""

from pydantic import Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from chassis.settings import BaseServiceSettings
from chassis.tracing import instrument_engine


class PostgresServiceSettings(BaseServiceSettings):
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    # Alembic upgrade at start-up; an advisory lock makes concurrent replicas take turns.
    run_migrations: bool = True
    # The background relay publishing the outbox; tests switch it off to drive it by hand.
    run_outbox_relay: bool = True


def create_engine(settings: PostgresServiceSettings) -> AsyncEngine:
    """The process's one pool. Waiting for a free connection is bounded like any outbound call."""
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        pool_timeout=settings.http_timeout_seconds,
    )
    instrument_engine(engine)
    return engine


async def ping(engine: AsyncEngine) -> None:
    """Readiness: the database answers a query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
