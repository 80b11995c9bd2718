"""Consumer-side dedup in PostgreSQL: the side effect and the "seen this id" mark share one
transaction, so a redelivered event changes nothing (exactly-once effects on at-least-once
delivery).

    async with session.begin():
        if await claim_event(session, "inventory-service", event.id):
            await release_stock(session, ...)

``claim_event_on_driver`` does the same on a pooled asyncpg connection, in the transaction the
caller opened on it (chassis.postgres.DriverUnitOfWork.claim_event).
"""

from functools import cache
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, PrimaryKeyConstraint, Table, Text, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

PROCESSED_EVENTS = "processed_events"


def processed_events_table(metadata: MetaData, name: str = PROCESSED_EVENTS) -> Table:
    """The (consumer, event_id) ledger; put it in the service's metadata and migration."""
    return Table(
        name,
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id", name=f"pk_{name}"),
    )


_default_table = processed_events_table(MetaData())


async def claim_event(
    session: AsyncSession | AsyncConnection,
    consumer: str,
    event_id: str,
    *,
    table: Table | None = None,
) -> bool:
    """Record ``event_id`` as processed by ``consumer``; True only the first time.

    Runs in the caller's transaction: if that transaction rolls back, so does the claim. A
    concurrent claim of the same id waits on the row lock and then returns False.
    """
    ledger = table if table is not None else _default_table
    statement = (
        insert(ledger)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(ledger.c.event_id)
    )
    result = await session.execute(statement)
    return result.first() is not None


@cache
def driver_claim_sql(name: str) -> str:
    """The claim as SQL text for the asyncpg connection ($1 consumer, $2 event id; a row back
    when the event is new): on its own, or as a CTE of a statement that acts only then."""
    return (
        f"INSERT INTO {name} (consumer, event_id) VALUES ($1, $2) "
        "ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id"
    )


async def claim_event_on_driver(
    connection: Any, consumer: str, event_id: str, *, table: Table | None = None
) -> bool:
    """``claim_event`` on a pooled asyncpg connection (chassis.postgres.driver_connection),
    inside the transaction the caller opened on it: the same row, the same once-only answer."""
    name = table.name if table is not None else PROCESSED_EVENTS
    return await connection.fetchval(driver_claim_sql(name), consumer, event_id) is not None
