"""chassis.postgres's repository shape against a real PostgreSQL: a transaction commits its
change, its outbox row and its inbox mark together or not at all; a broken constraint is
named, so a repository can turn it into its service's domain exception."""

import uuid

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from chassis.events import encode_event, new_event
from chassis.inbox import processed_events_table
from chassis.outbox import outbox_table
from chassis.postgres import Database, DriverUnitOfWork, UnitOfWork, constraint_name

pytestmark = pytest.mark.integration

metadata = sa.MetaData()
things = sa.Table(
    "things",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.UniqueConstraint("name", name="uq_things_name"),
)
outbox = outbox_table(metadata)
processed_events_table(metadata)


class ThingsUnitOfWork(UnitOfWork):
    outbox = outbox

    async def add(self, thing_id: int, name: str) -> None:
        await self.session.execute(sa.insert(things).values(id=thing_id, name=name))

    async def names(self) -> list[str]:
        return list((await self.session.execute(sa.select(things.c.name))).scalars())

    async def outbox_topics(self) -> list[str]:
        return list((await self.session.execute(sa.select(outbox.c.topic))).scalars())


class ThingsOnDriver(DriverUnitOfWork):
    outbox = outbox

    async def add(self, thing_id: int, name: str) -> str:
        return str(
            await self.connection.fetchval(
                "INSERT INTO things (id, name) VALUES ($1, $2) RETURNING name", thing_id, name
            )
        )


@pytest.fixture
async def database(engine) -> Database[ThingsUnitOfWork]:
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    return Database(engine, ThingsUnitOfWork)


async def test_a_transaction_commits_the_change_its_event_and_its_inbox_mark_together(
    database: Database[ThingsUnitOfWork],
) -> None:
    async with database.transaction() as uow:
        assert await uow.claim_event("tests", "event-1")
        await uow.add(1, "lamp")
        await uow.enqueue("thing-added", new_event("thing-added", "tests", "1", {"id": 1}))
    async with database.session() as uow:
        assert await uow.names() == ["lamp"]
        assert await uow.outbox_topics() == ["thing-added"]
    async with database.transaction() as uow:
        assert not await uow.claim_event("tests", "event-1")  # seen: applied once


async def test_a_failed_transaction_leaves_no_change_no_event_and_no_inbox_mark(
    database: Database[ThingsUnitOfWork],
) -> None:
    async def refused() -> None:
        async with database.transaction() as uow:
            assert await uow.claim_event("tests", "event-2")
            await uow.add(2, "chair")
            await uow.enqueue("thing-added", new_event("thing-added", "tests", "2", {"id": 2}))
            raise RuntimeError("business rule refused")

    with pytest.raises(RuntimeError, match="business rule refused"):
        await refused()
    async with database.session() as uow:
        assert await uow.names() == []
        assert await uow.outbox_topics() == []
    async with database.transaction() as uow:
        assert await uow.claim_event("tests", "event-2")  # the mark rolled back too


async def test_a_session_commits_nothing(database: Database[ThingsUnitOfWork]) -> None:
    async with database.session() as uow:
        await uow.add(3, "desk")
    async with database.session() as uow:
        assert await uow.names() == []


async def test_the_broken_constraint_is_named(database: Database[ThingsUnitOfWork]) -> None:
    async with database.transaction() as uow:
        await uow.add(4, "shelf")
    with pytest.raises(IntegrityError) as caught:
        async with database.transaction() as uow:
            await uow.add(5, "shelf")
    assert constraint_name(caught.value) == "uq_things_name"


async def test_the_fast_read_path_and_the_readiness_probe_use_the_same_pool(
    database: Database[ThingsUnitOfWork],
) -> None:
    async with database.transaction() as uow:
        await uow.add(6, "bed")
    async with database.driver_connection() as connection:
        assert await connection.fetchval("SELECT name FROM things WHERE id = $1", 6) == "bed"
    await database.ping()


async def test_a_unit_of_work_without_an_outbox_says_so(engine) -> None:
    database = Database(engine, UnitOfWork)
    async with database.session() as uow:
        with pytest.raises(TypeError, match="names no outbox table"):
            await uow.enqueue("t", new_event("t", "tests", None, {}))


async def test_a_driver_transaction_commits_the_change_and_the_same_outbox_row(
    database: Database[ThingsUnitOfWork],
) -> None:
    event = new_event("thing-added", "tests", "7", {"id": 7})
    async with database.driver_transaction(ThingsOnDriver) as uow:
        assert await uow.add(7, "lamp") == "lamp"
        await uow.enqueue("thing-added", event, key="7")
    async with database.session() as uow:
        assert await uow.names() == ["lamp"]
        row = (await uow.session.execute(sa.select(outbox))).mappings().one()
    assert (row["id"], row["topic"], row["key"]) == (uuid.UUID(event.id), "thing-added", "7")
    assert row["payload"] == encode_event(event).decode()
    assert row["sent_at"] is None
    assert isinstance(row["headers"], dict)


async def test_a_failed_driver_transaction_leaves_nothing_and_names_the_constraint(
    database: Database[ThingsUnitOfWork],
) -> None:
    async with database.driver_transaction(ThingsOnDriver) as uow:
        await uow.add(8, "chair")

    async def clash() -> None:
        async with database.driver_transaction(ThingsOnDriver) as uow:
            await uow.enqueue("thing-added", new_event("thing-added", "tests", "9", {"id": 9}))
            await uow.add(9, "chair")

    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await clash()
    assert constraint_name(caught.value) == "uq_things_name"
    async with database.session() as uow:
        assert await uow.names() == ["chair"]
        assert await uow.outbox_topics() == []


async def test_a_driver_transaction_claims_an_event_once_and_a_rollback_frees_the_claim(
    database: Database[ThingsUnitOfWork],
) -> None:
    async def refused() -> None:
        async with database.driver_transaction(ThingsOnDriver) as uow:
            assert await uow.claim_event("tests", "event-10")
            raise RuntimeError("business rule refused")

    with pytest.raises(RuntimeError, match="business rule refused"):
        await refused()
    async with database.driver_transaction(ThingsOnDriver) as uow:
        assert await uow.claim_event("tests", "event-10")  # the mark rolled back
        await uow.add(10, "stool")
    async with database.driver_transaction(ThingsOnDriver) as uow:
        assert not await uow.claim_event("tests", "event-10")  # seen: applied once
    async with database.transaction() as session_uow:
        assert not await session_uow.claim_event("tests", "event-10")  # the same ledger
