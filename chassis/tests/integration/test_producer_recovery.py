"""A broker that comes back having lost its last acknowledged writes leaves an idempotent
producer out of step for good (every later batch: OutOfOrderSequenceNumber). The relays must
replace such a producer and carry on by themselves, in both outboxes (issue 10, defect 1).

The loss is made deterministic: the broker's snapshot is taken while it is stopped, more
records are acknowledged, and the broker is started again from the older snapshot, exactly
what a broker that died between two snapshots does.
"""

import asyncio
import shutil
import uuid
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from sqlalchemy import MetaData

from chassis.events import decode_event, new_event
from chassis.kafka import EventProducer
from chassis.mongo_outbox import MongoOutboxRelay, ensure_outbox_indexes
from chassis.mongo_outbox import enqueue as mongo_enqueue
from chassis.outbox import OutboxRelay, outbox_table

from .test_outbox_integration import enqueue_committed, wait_until_unsent_is

pytestmark = pytest.mark.integration


async def forget_last_writes(broker, topic: str, producer: EventProducer) -> None:
    """Acknowledged records the restarted broker will not have, so the producer's sequence
    numbers run ahead of the broker's."""
    await broker.stop()
    kept = Path(str(broker.data_dir) + ".kept")
    shutil.copytree(broker.data_dir, kept)
    await broker.start()
    for n in range(3):
        await producer.publish_raw(topic, f"forgotten-{n}".encode(), b"agg-0")
    await broker.stop()
    shutil.rmtree(broker.data_dir)
    shutil.move(kept, broker.data_dir)
    await broker.start()


async def test_a_producer_out_of_step_with_the_broker_is_replaced_and_publishing_resumes(
    private_broker, create_topics
):
    [topic] = await create_topics("producer-recovery", bootstrap=private_broker.bootstrap)
    producer = EventProducer(private_broker.bootstrap, request_timeout_ms=3000)
    try:
        await producer.publish_raw(topic, b"before", b"agg-0")
        await forget_last_writes(private_broker, topic, producer)
        errors: list[str] = []
        for _ in range(10):
            try:
                await producer.publish_raw(topic, b"after", b"agg-0")
                break
            except Exception as exc:
                errors.append(type(exc).__name__)
                await asyncio.sleep(0.2)
        else:
            pytest.fail(f"the producer never published again: {errors}")
        assert producer.replaced >= 1, "publishing resumed without a new producer instance"
    finally:
        await producer.stop()


async def test_postgres_outbox_relay_recovers_by_itself_after_the_broker_lost_writes(
    engine, private_broker, create_topics, read_records
):
    metadata = MetaData()
    table = outbox_table(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    [topic] = await create_topics("outbox-recovery", bootstrap=private_broker.bootstrap)
    producer = EventProducer(private_broker.bootstrap, request_timeout_ms=3000)
    relay = OutboxRelay(
        engine,
        table,
        producer,
        poll_interval=0.2,
        backoff_initial=0.1,
        backoff_max=0.5,
        publish_timeout=4,
    )
    await relay.start()
    try:
        await enqueue_committed(engine, table, topic, 5)
        await wait_until_unsent_is(engine, table, 0)
        await relay.stop()
        await forget_last_writes(private_broker, topic, producer)
        await relay.start()
        after = await enqueue_committed(engine, table, topic, 20)
        await wait_until_unsent_is(engine, table, 0, within=30)
    finally:
        await relay.stop()
        await producer.stop()
    records = await read_records(private_broker.bootstrap, topic, 25, within=10)
    ids = {decode_event(r.value).id for r in records if r.value.startswith(b"{")}
    assert {e.id for e in after} <= ids


async def test_mongo_outbox_relay_recovers_by_itself_after_the_broker_lost_writes(
    local_mongo, private_broker, create_topics, read_records
):
    client: AsyncMongoClient = AsyncMongoClient(local_mongo)
    name = f"chassis_recovery_{uuid.uuid4().hex[:8]}"
    outbox = client[name]["outbox"]
    await ensure_outbox_indexes(outbox)
    [topic] = await create_topics("mongo-recovery", bootstrap=private_broker.bootstrap)
    producer = EventProducer(private_broker.bootstrap, request_timeout_ms=3000)
    relay = MongoOutboxRelay(
        outbox,
        producer,
        poll_interval=0.1,
        backoff_initial=0.1,
        backoff_max=0.5,
        publish_timeout=4,
        lease=10,
    )
    lock = asyncio.Lock()

    async def write(count: int) -> list[str]:
        ids = []
        for i in range(count):
            event = new_event(topic, "test", f"agg-{i % 3}", {"n": i})
            async with lock, client.start_session() as session, await session.start_transaction():
                await mongo_enqueue(session, outbox, topic, event)
            relay.notify()
            ids.append(event.id)
        return ids

    async def unsent() -> int:
        return int(await outbox.count_documents({"sent_at": {"$eq": None}}))

    try:
        await forget_last_writes(private_broker, topic, producer)
        await relay.start()
        after = await write(10)
        deadline = asyncio.get_running_loop().time() + 30
        while await unsent():
            assert asyncio.get_running_loop().time() < deadline, (
                f"{await unsent()} outbox documents still unsent after 30 s"
            )
            await asyncio.sleep(0.1)
    finally:
        await relay.stop()
        await producer.stop()
        await client.drop_database(name)
        await client.close()
    records = await read_records(private_broker.bootstrap, topic, 10, within=10)
    ids = {decode_event(r.value).id for r in records if r.value.startswith(b"{")}
    assert set(after) <= ids
