import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import MetaData, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from chassis.events import decode_event, new_event
from chassis.kafka import EventProducer
from chassis.outbox import OUTBOX_BACKLOG, OutboxRelay, enqueue, outbox_table

pytestmark = pytest.mark.integration


@pytest.fixture
async def outbox(engine):
    metadata = MetaData()
    table = outbox_table(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return table


async def enqueue_committed(engine, table, topic, count, subject="agg"):
    events = []
    for i in range(count):
        event = new_event(topic, "test", f"{subject}-{i % 7}", {"n": i})
        async with AsyncSession(engine) as session, session.begin():
            await enqueue(session, table, topic, event)
        events.append(event)
    return events


async def unsent(engine, table) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(
            select(func.count()).select_from(table).where(table.c.sent_at.is_(None))
        )


async def wait_until_unsent_is(engine, table, expected: int, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (remaining := await unsent(engine, table)) != expected:
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{remaining} outbox rows still unsent after {within}s")
        await asyncio.sleep(0.05)


async def test_committed_outbox_rows_are_published_on_notify_and_marked_sent(
    engine, outbox, kafka_bootstrap, create_topics, read_records
):
    [topic] = await create_topics("outbox-commit")
    producer = EventProducer(kafka_bootstrap)
    # A poll interval far beyond the test's wait: only the NOTIFY at commit can wake it in time.
    relay = OutboxRelay(engine, outbox, producer, poll_interval=60)
    await relay.start()
    try:
        await asyncio.sleep(0.5)  # let the relay LISTEN and run its first pass
        started = asyncio.get_running_loop().time()
        events = await enqueue_committed(engine, outbox, topic, 3)
        await wait_until_unsent_is(engine, outbox, 0, within=5)
        assert asyncio.get_running_loop().time() - started < 5
    finally:
        await relay.stop()
        await producer.stop()
    records = await read_records(kafka_bootstrap, topic, 3)
    assert [decode_event(r.value) for r in records] == events
    assert [r.key for r in records] == [e.subject.encode() for e in events]
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).where(outbox.c.sent_at.is_not(None))) == 3


async def test_rolled_back_transaction_publishes_nothing(
    engine, outbox, kafka_bootstrap, create_topics, read_records
):
    [topic] = await create_topics("outbox-rollback")
    producer = EventProducer(kafka_bootstrap)
    relay = OutboxRelay(engine, outbox, producer, poll_interval=0.2)
    await relay.start()
    try:
        ghost = new_event(topic, "test", "agg", {"ghost": True})
        async with AsyncSession(engine) as session, session.begin():
            await enqueue(session, outbox, topic, ghost)
            await session.rollback()
        [marker] = await enqueue_committed(engine, outbox, topic, 1)
        await wait_until_unsent_is(engine, outbox, 0)
        await asyncio.sleep(0.5)
    finally:
        await relay.stop()
        await producer.stop()
    records = await read_records(kafka_bootstrap, topic, 2, within=3)
    assert [decode_event(r.value).id for r in records] == [marker.id]
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(outbox)) == 1


async def test_two_relays_on_one_table_publish_every_row_exactly_once(
    engine, outbox, kafka_bootstrap, create_topics, read_records
):
    [topic] = await create_topics("outbox-two-relays")
    producers = [EventProducer(kafka_bootstrap) for _ in range(2)]
    relays = [OutboxRelay(engine, outbox, p, batch_size=10, poll_interval=0.1) for p in producers]
    for relay in relays:
        await relay.start()
    try:
        writers = [enqueue_committed(engine, outbox, topic, 100, subject=f"w{w}") for w in range(4)]
        events = [e for batch in await asyncio.gather(*writers) for e in batch]
        await wait_until_unsent_is(engine, outbox, 0)
    finally:
        for relay in relays:
            await relay.stop()
        for producer in producers:
            await producer.stop()
    records = await read_records(kafka_bootstrap, topic, 401, within=5)
    seen = Counter(decode_event(r.value).id for r in records)
    assert len(events) == 400
    assert set(seen) == {e.id for e in events}
    assert [i for i, n in seen.items() if n > 1] == []
    assert sum(relay.published for relay in relays) == 400


async def test_rows_stay_unsent_while_the_broker_is_down_and_are_published_when_it_returns(
    engine, outbox, private_broker, create_topics, read_records
):
    [topic] = await create_topics("outbox-outage", bootstrap=private_broker.bootstrap)
    producer = EventProducer(private_broker.bootstrap, request_timeout_ms=2000)
    relay = OutboxRelay(
        engine,
        outbox,
        producer,
        poll_interval=0.2,
        backoff_initial=0.1,
        backoff_max=0.5,
        publish_timeout=3,
    )
    await relay.start()
    try:
        [before] = await enqueue_committed(engine, outbox, topic, 1)
        await wait_until_unsent_is(engine, outbox, 0)

        await private_broker.stop()
        during = await enqueue_committed(engine, outbox, topic, 5)
        # Every row must see at least one failed attempt while the broker is down.
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            async with engine.connect() as conn:
                attempts, error = (
                    await conn.execute(
                        select(func.min(outbox.c.attempts), func.max(outbox.c.last_error)).where(
                            outbox.c.sent_at.is_(None)
                        )
                    )
                ).one()
            if attempts and attempts >= 1:
                break
            assert asyncio.get_running_loop().time() < deadline, "relay never tried the rows"
            await asyncio.sleep(0.2)
        assert await unsent(engine, outbox) == 5
        assert error.startswith("TimeoutError") or "Error" in error

        await private_broker.start()
        await wait_until_unsent_is(engine, outbox, 0, within=60)
    finally:
        await relay.stop()
        await producer.stop()
    records = await read_records(private_broker.bootstrap, topic, 7, within=5)
    ids = [decode_event(r.value).id for r in records]
    assert set(ids) == {before.id, *(e.id for e in during)}


async def test_relay_deletes_sent_rows_past_retention_and_reports_backlog(
    engine, outbox, kafka_bootstrap
):
    producer = EventProducer(kafka_bootstrap)
    relay = OutboxRelay(engine, outbox, producer, retention=timedelta(days=7))
    await enqueue_committed(engine, outbox, "never-published", 3)
    async with engine.begin() as conn:
        oldest = (await conn.execute(select(outbox.c.id).limit(1))).scalar_one()
        await conn.execute(
            update(outbox)
            .where(outbox.c.id == oldest)
            .values(sent_at=text("now() - interval '8 days'"))
        )
    assert await relay.cleanup() == 1
    backlog, age = await relay.refresh_metrics()
    assert backlog == 2
    assert age >= 0
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
    engine, outbox, kafka_bootstrap, create_topics, read_records
):
    [topic] = await create_topics("outbox-key-order")
    first, second = (new_event(topic, "test", "order-1", {"n": n}) for n in range(2))
    for event in (first, second):
        async with AsyncSession(engine) as session, session.begin():
            await enqueue(session, outbox, topic, event)
    held = HeldProducer(EventProducer(kafka_bootstrap))
    other = EventProducer(kafka_bootstrap)
    # Batches of one: relay A holds order-1's first event, unsent, while relay B looks.
    slow = OutboxRelay(engine, outbox, held, batch_size=1)  # type: ignore[arg-type]
    fast = OutboxRelay(engine, outbox, other, batch_size=1)
    try:
        holding = asyncio.create_task(slow.run_once())
        await asyncio.wait_for(held.claimed.wait(), 10)
        assert await fast.run_once() == 0  # the successor waits for its predecessor
        held.release.set()
        assert await holding == 1
        assert await fast.run_once() == 1
    finally:
        held.release.set()
        await slow.stop()
        await fast.stop()
        await held.stop()
        await other.stop()
    records = await read_records(kafka_bootstrap, topic, 2, within=5)
    assert [decode_event(r.value).id for r in records] == [first.id, second.id]


async def test_two_relays_keep_each_aggregates_events_in_commit_order(
    engine, outbox, kafka_bootstrap, create_topics, read_records
):
    [topic] = await create_topics("outbox-two-relays-order")
    producers = [EventProducer(kafka_bootstrap) for _ in range(2)]
    relays = [OutboxRelay(engine, outbox, p, batch_size=3, poll_interval=0.1) for p in producers]
    for relay in relays:
        await relay.start()
    try:
        # 4 writers x 60 events over 7 aggregates each: every aggregate has a long history.
        writers = [enqueue_committed(engine, outbox, topic, 60, subject=f"w{w}") for w in range(4)]
        events = [e for batch in await asyncio.gather(*writers) for e in batch]
        await wait_until_unsent_is(engine, outbox, 0)
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


class RecordingProducer:
    """Acknowledges every send at once and keeps what was sent (topic, value, key, headers)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = []

    async def send_raw(self, topic, value, key, headers):
        self.sent.append((topic, value, key, headers))
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def test_the_driver_claim_sends_each_rows_exact_payload_key_and_headers(engine, outbox):
    # The claim and the sent mark run on the pooled asyncpg connection itself (no SQLAlchemy
    # result processing): JSONB headers, keys and the payload text must still arrive as written.
    event = new_event("with-headers", "test", "agg-1", {"price": "19.99", "name": "Zoë"})
    async with AsyncSession(engine) as session, session.begin():
        await enqueue(
            session,
            outbox,
            "with-headers",
            event,
            traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            headers={"x-tenant": "ä-1"},
        )
        await enqueue(session, outbox, "with-headers", event.model_copy(update={"id": "plain"}))
    producer = RecordingProducer()
    relay = OutboxRelay(engine, outbox, producer)  # type: ignore[arg-type]
    try:
        assert await relay.run_once() == 1  # one per key and round: the second waits its turn
        assert await relay.run_once() == 1
        assert await relay.run_once() == 0
    finally:
        await relay.stop()
    [(topic, value, key, headers), (_, _, _, plain_headers)] = producer.sent
    assert topic == "with-headers"
    assert decode_event(value) == event
    assert key == b"agg-1"
    assert dict(headers) == {
        "x-tenant": "ä-1".encode(),
        "traceparent": b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    assert plain_headers == []
    assert await unsent(engine, outbox) == 0


async def test_the_relays_connection_killed_under_it_is_replaced_and_nothing_is_lost(
    engine, outbox
):
    # The relay claims on its own connection (the LISTEN one): killed (a PostgreSQL restart,
    # say), the next rounds open another, and every row is still published once.
    producer = RecordingProducer()
    relay = OutboxRelay(engine, outbox, producer)  # type: ignore[arg-type]
    try:
        await enqueue_committed(engine, outbox, "killed", 1)
        assert await relay.run_once() == 1
        assert relay._listener is not None
        first_pid = relay._listener.get_server_pid()
        await enqueue_committed(engine, outbox, "killed", 2, subject="other")
        async with engine.connect() as conn:
            assert await conn.scalar(text(f"SELECT pg_terminate_backend({first_pid})"))
        published, errors = 0, []
        for _ in range(4):  # a round on the dead connection may fail once; then a new one
            try:
                published += await relay.run_once()
            except Exception as error:  # the relay loop backs off on any error
                errors.append(error)
        assert published == 2, errors
        assert len(errors) <= 1
        assert relay._listener is not None
        assert relay._listener.get_server_pid() != first_pid
        assert await unsent(engine, outbox) == 0
        assert len(producer.sent) == 3
    finally:
        await relay.stop()
    assert relay._listener is None


async def test_a_relay_that_cannot_open_its_own_connection_publishes_on_pooled_ones(
    engine, outbox, monkeypatch
):
    # The server refuses the relay a connection of its own (e.g. at max_connections) while the
    # pool still has one: the outbox keeps moving, round after round, and nothing is lost.
    async def refused() -> None:
        raise OSError("sorry, too many clients already")

    producer = RecordingProducer()
    relay = OutboxRelay(engine, outbox, producer)  # type: ignore[arg-type]
    monkeypatch.setattr(relay, "_ensure_listener", refused)
    try:
        await enqueue_committed(engine, outbox, "pooled", 1)
        await enqueue_committed(engine, outbox, "pooled", 2, subject="other")
        # Three keys (agg-0, other-0, other-1): all in the first round.
        assert [await relay.run_once() for _ in range(2)] == [3, 0]
        assert relay._listener is None
        assert await unsent(engine, outbox) == 0
        assert len(producer.sent) == 3
    finally:
        await relay.stop()
