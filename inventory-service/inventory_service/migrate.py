"""Bring inventory_db to the latest Alembic revision.

Called at start-up (RUN_MIGRATIONS=true) and runnable by hand:
`python -m inventory_service.migrate`.
"""

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from chassis import migrations
from inventory_service.config import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
# Unique per service database; serialises replicas that migrate at the same moment.
ADVISORY_LOCK_KEY = 0x1A7E_0003


async def upgrade_database(engine: AsyncEngine) -> None:
    await migrations.upgrade_database(engine, MIGRATIONS, ADVISORY_LOCK_KEY)


if __name__ == "__main__":
    migrations.main(Settings().database_url, MIGRATIONS, ADVISORY_LOCK_KEY)
