import asyncio

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chassis.events import CloudEvent, encode_event, new_event
from chassis.inbox import claim_event, processed_events_table
from chassis.kafka import EventConsumer, EventProducer

pytestmark = pytest.mark.integration


class MemoryIdempotency:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def is_processed(self, event_id: str) -> bool:
        return event_id in self.seen

    async def mark_processed(self, event_id: str) -> None:
        self.seen.add(event_id)


@pytest.fixture
async def producer(kafka_bootstrap):
    producer = EventProducer(kafka_bootstrap)
    await producer.start()
    yield producer
    await producer.stop()


async def wait_for(condition, within=20.0, what="condition"):
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_consumer_commits_only_after_handling_and_restart_resumes_at_uncommitted_message(
    kafka_bootstrap, create_topics, producer, committed_offset
):
    [topic] = await create_topics("commit-after-handling")
    group = f"g-{topic}"
    events = [new_event(topic, "test", f"agg-{i}", {"n": i}) for i in range(3)]
    for event in events:
        await producer.publish(topic, event)

    first_run: list[str] = []
    stuck = asyncio.Event()

    async def hangs_on_second(event: CloudEvent) -> None:
        first_run.append(event.id)
        if event.id == events[1].id:
            stuck.set()
            await asyncio.Event().wait()  # handler never finishes: crash stand-in

    consumer = EventConsumer(
        kafka_bootstrap, group, [topic], hangs_on_second, producer_for_dlq=producer
    )
    await consumer.start()
    try:
        await asyncio.wait_for(stuck.wait(), 20)
        await asyncio.sleep(0.3)
        assert await committed_offset(kafka_bootstrap, group, topic) == 1
    finally:
        await consumer.stop()
    assert first_run == [events[0].id, events[1].id]

    second_run: list[str] = []

    async def records(event: CloudEvent) -> None:
        second_run.append(event.id)

    consumer = EventConsumer(kafka_bootstrap, group, [topic], records, producer_for_dlq=producer)
    await consumer.start()
    try:
        await wait_for(lambda: len(second_run) >= 2, what="redelivery after restart")
    finally:
        await consumer.stop()
    assert second_run == [events[1].id, events[2].id]
    assert await committed_offset(kafka_bootstrap, group, topic) == 3


async def test_poison_message_lands_in_the_dlq_with_error_headers_and_the_partition_moves_on(
    kafka_bootstrap, create_topics, producer, read_records, committed_offset
):
    [topic] = await create_topics("poison")
    group = f"g-{topic}"
    poison = new_event(topic, "test", "agg-1", {"poison": True})
    good = new_event(topic, "test", "agg-1", {"poison": False})
    await producer.publish_raw(topic, b"this is not a cloudevent", b"agg-1")
    await producer.publish(topic, poison)
    await producer.publish(topic, good)

    handled: list[str] = []
    attempts = 0

    async def handler(event: CloudEvent) -> None:
        nonlocal attempts
        if event.data["poison"]:
            attempts += 1
            raise ValueError("cannot price this order")
        handled.append(event.id)

    consumer = EventConsumer(
        kafka_bootstrap,
        group,
        [topic],
        handler,
        producer_for_dlq=producer,
        max_attempts=3,
        backoff_initial=0.01,
        backoff_max=0.05,
    )
    await consumer.start()
    try:
        await wait_for(lambda: handled == [good.id], what="the good event after the poison")
    finally:
        await consumer.stop()
    assert attempts == 3

    dead = await read_records(kafka_bootstrap, topic + ".dlq", 2)
    assert len(dead) == 2
    undecodable, poisoned = dead
    assert undecodable.value == b"this is not a cloudevent"
    headers = dict(undecodable.headers)
    assert headers["x-error-type"] == b"InvalidEvent"
    assert headers["x-attempts"] == b"0"
    assert headers["x-original-offset"] == b"0"

    assert poisoned.value == encode_event(poison)
    assert poisoned.key == b"agg-1"
    headers = dict(poisoned.headers)
    assert headers["x-error"] == b"cannot price this order"
    assert headers["x-error-type"] == b"ValueError"
    assert headers["x-attempts"] == b"3"
    assert headers["x-original-topic"] == topic.encode()
    assert headers["x-original-partition"] == b"0"
    assert headers["x-original-offset"] == b"1"
    assert await committed_offset(kafka_bootstrap, group, topic) == 3


async def test_redelivered_event_id_is_skipped_by_the_idempotency_store(
    kafka_bootstrap, create_topics, producer
):
    [topic] = await create_topics("redelivery")
    event = new_event(topic, "test", "agg-1", {"n": 1})
    marker = new_event(topic, "test", "agg-1", {"n": 2})
    for e in (event, event, marker):  # the same id twice, as a producer retry would
        await producer.publish(topic, e)

    handled: list[str] = []

    async def handler(e: CloudEvent) -> None:
        handled.append(e.id)

    store = MemoryIdempotency()
    consumer = EventConsumer(
        kafka_bootstrap,
        f"g-{topic}",
        [topic],
        handler,
        producer_for_dlq=producer,
        idempotency=store,
    )
    await consumer.start()
    try:
        await wait_for(lambda: marker.id in handled, what="the marker event")
    finally:
        await consumer.stop()
    assert handled == [event.id, marker.id]


async def test_traceparent_travels_as_a_record_header(
    kafka_bootstrap, create_topics, producer, read_records
):
    [topic] = await create_topics("trace")
    event = new_event(topic, "test", "order-9", {})
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    await producer.publish(topic, event, traceparent=traceparent)
    [record] = await read_records(kafka_bootstrap, topic, 1)
    assert record.key == b"order-9"
    assert dict(record.headers)["traceparent"] == traceparent.encode()


async def test_claim_event_applies_a_side_effect_exactly_once_per_event_id(engine):
    metadata = MetaData()
    ledger = processed_events_table(metadata)
    stock = Table("stock", metadata, Column("sku", Text, primary_key=True), Column("qty", Integer))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(stock.insert().values(sku="p1", qty=10))

    async def reserve(event_id: str, fail: bool = False) -> bool:
        async with AsyncSession(engine) as session, session.begin():
            if not await claim_event(session, "inventory", event_id, table=ledger):
                return False
            await session.execute(stock.update().values(qty=stock.c.qty - 1))
            if fail:
                raise RuntimeError("crash before commit")
            return True

    with pytest.raises(RuntimeError):
        await reserve("e1", fail=True)  # rolled back: neither claim nor effect remains
    assert await reserve("e1") is True
    assert await reserve("e1") is False
    assert await reserve("e2") is True
    async with engine.connect() as conn:
        assert await conn.scalar(select(stock.c.qty)) == 8
        assert await conn.scalar(select(func.count()).select_from(ledger)) == 2


async def test_an_empty_fetch_is_followed_by_a_pause_not_by_another_fetch_at_once(
    kafka_bootstrap, create_topics, producer
):
    """The local broker answers an empty fetch at once (Kafka would hold it for
    fetch.max.wait.ms), and aiokafka then fetches again at once. With the chassis's pacing the
    consumer's fetcher asks at most once per pause; records still arrive."""
    from aiokafka import AIOKafkaConsumer

    from chassis.kafka import pace_empty_fetches

    [topic] = await create_topics("empty-fetch-pacing")

    async def fetches_in(consumer: AIOKafkaConsumer, seconds: float) -> int:
        fetcher = consumer._fetcher
        step = fetcher._proc_fetch_request
        count = 0

        async def counted(*args, **kwargs):
            nonlocal count
            count += 1
            return await step(*args, **kwargs)

        fetcher._proc_fetch_request = counted
        await asyncio.sleep(seconds)
        fetcher._proc_fetch_request = step
        return count

    counts = {}
    for paced in (False, True):
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"pacing-{paced}-{topic}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            if paced:
                # Counting wraps the paced step, so the pause is inside what is counted.
                assert pace_empty_fetches(consumer, 0.05)
                assert pace_empty_fetches(consumer, 0.05)  # twice is once
            await consumer.getmany(timeout_ms=300)
            counts[paced] = await fetches_in(consumer, 1.0)
            event = new_event(topic, "test", "agg", {"paced": paced})
            await producer.publish(topic, event)
            received = []
            deadline = asyncio.get_running_loop().time() + 10
            while not received and asyncio.get_running_loop().time() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                received = [r for records in batch.values() for r in records]
            assert received, f"paced={paced}: the record never arrived"
        finally:
            await consumer.stop()
    # At most one fetch per 50 ms pause (plus the one in flight), where unpaced the broker's
    # instant empty answers let the fetcher ask hundreds of times a second.
    assert counts[True] <= 22, counts
    assert counts[False] > 3 * counts[True], counts
