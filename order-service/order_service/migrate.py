"""Bring the database schema to the latest Alembic revision.

Called at start-up (RUN_MIGRATIONS=true) and runnable by hand:
`python -m order_service.migrate`.
A PostgreSQL advisory lock serialises replicas that start together.
"""

import asyncio
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from order_service.config import Settings

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant unique to this service's database works as the lock key.
ADVISORY_LOCK_KEY = 0x1A7E_0002


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade_database(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
        )
        await connection.run_sync(_upgrade)
    log.info("database.migrated")


async def _main() -> None:
    engine = create_async_engine(Settings().database_url)
    try:
        await upgrade_database(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(_main())
