"""Alembic for the PostgreSQL services, run on the service's own async engine.

A service keeps its revisions in `<pkg>/migrations/` with a two-line `env.py`
(`run_migrations(metadata)`) and a `migrate.py` that calls `upgrade_database` at start-up and
`main` from the command line. A PostgreSQL advisory lock per service makes replicas that start
together take turns instead of racing on the same DDL.
"""

import asyncio
from pathlib import Path

import structlog
from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = structlog.get_logger(__name__)


def _upgrade(connection: Connection, migrations: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade_database(engine: AsyncEngine, migrations: Path, lock_key: int) -> None:
    """Bring the schema to the latest revision in `migrations` (a package's migrations folder)."""
    async with engine.begin() as connection:
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
        await connection.run_sync(_upgrade, migrations)
    log.info("database.migrated", migrations=migrations.parent.name)


def run_migrations(metadata: MetaData) -> None:
    """The body of a service's Alembic `env.py`: use the connection upgrade_database handed over,
    so the service's engine (and its URL) is the only source of truth."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through chassis.migrations.upgrade_database")
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def main(database_url: str, migrations: Path, lock_key: int) -> None:
    """Command-line upgrade, for deployments that migrate before starting the service."""

    async def upgrade() -> None:
        engine = create_async_engine(database_url)
        try:
            await upgrade_database(engine, migrations, lock_key)
        finally:
            await engine.dispose()

    asyncio.run(upgrade())
