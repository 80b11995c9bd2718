"""The MongoDB outbox against nx-27017 (MongoDB wire protocol) and the noida-db broker."""

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pymongo import AsyncMongoClient

from chassis.events import CloudEvent, decode_event, new_event
from chassis.kafka import EventProducer
from chassis.mongo_outbox import MongoOutboxRelay, enqueue, ensure_outbox_indexes
from chassis.outbox_core import OUTBOX_BACKLOG

pytestmark = pytest.mark.integration


@pytest.fixture
async def mongo(local_mongo: str) -> AsyncIterator[AsyncMongoClient]:
    client: AsyncMongoClient = AsyncMongoClient(local_mongo)
    yield client
    await client.close()


@pytest.fixture
async def outbox(mongo: AsyncMongoClient) -> AsyncIterator:
    name = f"chassis_outbox_{uuid.uuid4().hex[:8]}"
    collection = mongo[name]["outbox"]
    await ensure_outbox_indexes(collection)
    yield collection
    await mongo.drop_database(name)


# nx-27017 has no isolation between transactions: a service serializes its own and lends the
# lock to its relay (see the module docstring). The tests do the same.
TX_LOCK = asyncio.Lock()


async def enqueue_committed(
    mongo, outbox, topic: str, count: int, subject: str = "agg"
) -> list[CloudEvent]:
    """Each event in its own transaction, beside a business document, as a service would."""
    events = []
    for i in range(count):
        event = new_event(topic, "test", f"{subject}-{i % 7}", {"n": i})
        async with TX_LOCK, mongo.start_session() as session, await session.start_transaction():
            await outbox.database["things"].insert_one({"n": i}, session=session)
            await enqueue(session, outbox, topic, event)
        events.append(event)
    return events


async def unsent(outbox) -> int:
    return int(await outbox.count_documents({"sent_at": {"$eq": None}}))


async def wait_until_unsent_is(outbox, expected: int, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (remaining := await unsent(outbox)) != expected:
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{remaining} outbox documents still unsent after {within}s")
        await asyncio.sleep(0.05)


async def test_committed_events_are_published_on_notify_and_marked_sent(
    mongo, outbox, kafka_bootstrap, create_topics, read_records
):
    [topic] = await create_topics("mongo-outbox-commit")
    producer = EventProducer(kafka_bootstrap)
    await producer.start()
    # A poll interval far beyond the test's wait: only notify() can wake it in time.
    relay = MongoOutboxRelay(outbox, producer, poll_interval=60, isolation_lock=TX_LOCK)
    await relay.start()
    try:
        await asyncio.sleep(0.2)  # first pass (metrics, cleanup) done, relay waiting
        events = await enqueue_committed(mongo, outbox, topic, 3)
        started = time.perf_counter()
        relay.notify()
        await wait_until_unsent_is(outbox, 0, within=5)
        assert time.perf_counter() - started < 2
    finally:
        await relay.stop()
        await producer.stop()
    records = await read_records(kafka_bootstrap, topic, 3)
    assert [decode_event(r.value) for r in records] == events
    assert [r.key for r in records] == [e.subject.encode() for e in events]
    docs = await outbox.find({}).to_list()
    assert len(docs) == 3
    assert all(d["sent_at"] > 0 and d["claimed_by"] is None for d in docs)


async def test_aborted_transaction_publishes_nothing(
    mongo, outbox, kafka_bootstrap, create_topics, read_records
):
    [topic] = await create_topics("mongo-outbox-abort")
    producer = EventProducer(kafka_bootstrap)
    relay = MongoOutboxRelay(outbox, producer, poll_interval=0.1, isolation_lock=TX_LOCK)
    await relay.start()
    try:
        ghost = new_event(topic, "test", "agg", {"ghost": True})
        async with TX_LOCK, mongo.start_session() as session:
            await session.start_transaction()
            await outbox.database["things"].insert_one({"ghost": True}, session=session)
            await enqueue(session, outbox, topic, ghost)
            await session.abort_transaction()
        relay.notify()
        [marker] = await enqueue_committed(mongo, outbox, topic, 1)
        relay.notify()
        await wait_until_unsent_is(outbox, 0)
        await asyncio.sleep(0.3)
    finally:
        await relay.stop()
        await producer.stop()
    records = await read_records(kafka_bootstrap, topic, 2, within=3)
    assert [decode_event(r.value).id for r in records] == [marker.id]
    assert await outbox.count_documents({}) == 1
    assert await outbox.database["things"].count_documents({"ghost": True}) == 0


async def test_two_relays_publish_every_event_exactly_once(
    mongo, outbox, kafka_bootstrap, create_topics, read_records
):
    [topic] = await create_topics("mongo-outbox-two-relays")
    producers = [EventProducer(kafka_bootstrap) for _ in range(2)]
    # No shared lock between the relays (they stand for two processes): only the lease
    # keeps them apart. The writers never abort, so no ghost can be read mid-transaction.
    relays = [
        MongoOutboxRelay(outbox, p, batch_size=10, poll_interval=0.02, relay_id=f"r{i}")
        for i, p in enumerate(producers)
    ]
    for relay in relays:
        await relay.start()
    try:
        writers = [enqueue_committed(mongo, outbox, topic, 50, subject=f"w{w}") for w in range(4)]
        events = [e for batch in await asyncio.gather(*writers) for e in batch]
        await wait_until_unsent_is(outbox, 0)
    finally:
        for relay in relays:
            await relay.stop()
        for producer in producers:
            await producer.stop()
    records = await read_records(kafka_bootstrap, topic, 201, within=5)
    seen = Counter(decode_event(r.value).id for r in records)
    assert len(events) == 200
    assert set(seen) == {e.id for e in events}
    assert [i for i, n in seen.items() if n > 1] == []
    assert sum(relay.published for relay in relays) == 200
    assert all(relay.published > 0 for relay in relays)  # both really competed


async def test_expired_lease_is_taken_over_but_a_live_one_is_not(mongo, outbox, kafka_bootstrap):
    producer = EventProducer(kafka_bootstrap)
    relay = MongoOutboxRelay(outbox, producer, batch_size=5)
    await enqueue_committed(mongo, outbox, "never-published", 2)
    now_ms = time.time_ns() // 1_000_000
    first, second = await outbox.find({}, sort=[("created_at", 1)]).to_list()
    # One batch is held by a live relay, the other by one that died (its lease ran out).
    await outbox.update_one(
        {"_id": first["_id"]}, {"$set": {"claimed_by": "live", "claimed_until": now_ms + 60_000}}
    )
    await outbox.update_one(
        {"_id": second["_id"]}, {"$set": {"claimed_by": "dead", "claimed_until": now_ms - 1}}
    )
    token, docs = await relay._claim()
    assert [d["_id"] for d in docs] == [second["_id"]]
    assert (await outbox.find_one({"_id": first["_id"]}))["claimed_by"] == "live"
    assert (await outbox.find_one({"_id": second["_id"]}))["claimed_by"] == token


async def test_events_wait_while_the_broker_is_down_and_are_published_when_it_returns(
    mongo, outbox, private_broker, create_topics, read_records
):
    [topic] = await create_topics("mongo-outbox-outage", bootstrap=private_broker.bootstrap)
    producer = EventProducer(private_broker.bootstrap, request_timeout_ms=2000)
    relay = MongoOutboxRelay(
        outbox,
        producer,
        poll_interval=0.2,
        backoff_initial=0.1,
        backoff_max=0.5,
        publish_timeout=3,
        lease=10,
        isolation_lock=TX_LOCK,
    )
    await relay.start()
    try:
        [before] = await enqueue_committed(mongo, outbox, topic, 1)
        relay.notify()
        await wait_until_unsent_is(outbox, 0)

        await private_broker.stop()
        during = await enqueue_committed(mongo, outbox, topic, 5)
        relay.notify()
        deadline = asyncio.get_running_loop().time() + 30
        while True:  # every document must see at least one failed attempt
            docs = await outbox.find({"sent_at": {"$eq": None}}).to_list()
            if docs and min(d["attempts"] for d in docs) >= 1:
                break
            assert asyncio.get_running_loop().time() < deadline, "relay never tried them"
            await asyncio.sleep(0.2)
        assert await unsent(outbox) == 5
        assert all(d["last_error"] for d in docs)

        await private_broker.start()
        await wait_until_unsent_is(outbox, 0, within=60)
    finally:
        await relay.stop()
        await producer.stop()
    records = await read_records(private_broker.bootstrap, topic, 7, within=5)
    ids = [decode_event(r.value).id for r in records]
    assert set(ids) == {before.id, *(e.id for e in during)}


async def test_relay_deletes_old_sent_events_and_reports_backlog(mongo, outbox, kafka_bootstrap):
    producer = EventProducer(kafka_bootstrap)
    relay = MongoOutboxRelay(outbox, producer, retention=timedelta(days=7))
    await enqueue_committed(mongo, outbox, "never-published", 3)
    oldest = await outbox.find_one({}, sort=[("created_at", 1)])
    eight_days_ago = time.time_ns() // 1_000_000 - 8 * 86_400_000
    await outbox.update_one({"_id": oldest["_id"]}, {"$set": {"sent_at": eight_days_ago}})
    assert await relay.cleanup() == 1
    backlog, age = await relay.refresh_metrics()
    assert backlog == 2
    assert 0 <= age < 60
    assert OUTBOX_BACKLOG.labels(outbox.name)._value.get() == 2


class HeldProducer:
    """A real producer whose sends wait until the test lets them go: a relay caught between
    claiming its batch and publishing it, as a slow or preempted replica would be."""

    def __init__(self, producer: EventProducer) -> None:
        self.producer = producer
        self.claimed = asyncio.Event()
        self.release = asyncio.Event()

    async def send_raw(self, *args, **kwargs):
        self.claimed.set()
        await self.release.wait()
        return await self.producer.send_raw(*args, **kwargs)

    async def stop(self) -> None:
        await self.producer.stop()


async def test_a_second_relay_never_publishes_an_aggregates_later_event_before_its_earlier_one(
    mongo, outbox, kafka_bootstrap, create_topics, read_records
):
    [topic] = await create_topics("mongo-outbox-key-order")
    first, second = (new_event(topic, "test", "product-1", {"n": n}) for n in range(2))
    for event in (first, second):
        async with TX_LOCK, mongo.start_session() as session, await session.start_transaction():
            await enqueue(session, outbox, topic, event)
    held = HeldProducer(EventProducer(kafka_bootstrap))
    other = EventProducer(kafka_bootstrap)
    # Batches of one: relay A holds product-1's first event, unsent, while relay B looks.
    slow = MongoOutboxRelay(outbox, held, batch_size=1, relay_id="slow")  # type: ignore[arg-type]
    fast = MongoOutboxRelay(outbox, other, batch_size=1, relay_id="fast")
    try:
        holding = asyncio.create_task(slow.run_once())
        await asyncio.wait_for(held.claimed.wait(), 10)
        assert await fast.run_once() == 0  # the successor waits for its predecessor
        held.release.set()
        assert await holding == 1
        assert await fast.run_once() == 1
    finally:
        held.release.set()
        await held.stop()
        await other.stop()
    records = await read_records(kafka_bootstrap, topic, 2, within=5)
    assert [decode_event(r.value).id for r in records] == [first.id, second.id]


async def test_two_relays_keep_each_aggregates_events_in_commit_order(
    mongo, outbox, kafka_bootstrap, create_topics, read_records
):
    [topic] = await create_topics("mongo-outbox-two-relays-order")
    producers = [EventProducer(kafka_bootstrap) for _ in range(2)]
    relays = [
        MongoOutboxRelay(outbox, p, batch_size=3, poll_interval=0.02, relay_id=f"r{i}")
        for i, p in enumerate(producers)
    ]
    for relay in relays:
        await relay.start()
    try:
        writers = [enqueue_committed(mongo, outbox, topic, 40, subject=f"w{w}") for w in range(4)]
        events = [e for batch in await asyncio.gather(*writers) for e in batch]
        await wait_until_unsent_is(outbox, 0)
    finally:
        for relay in relays:
            await relay.stop()
        for producer in producers:
            await producer.stop()
    records = await read_records(kafka_bootstrap, topic, len(events), within=10)
    published: dict[bytes, list[str]] = {}
    for record in records:
        published.setdefault(record.key, []).append(decode_event(record.value).id)
    committed: dict[bytes, list[str]] = {}
    for event in events:
        committed.setdefault(event.subject.encode(), []).append(event.id)
    assert published == committed
    assert all(relay.published > 0 for relay in relays)  # both really competed
