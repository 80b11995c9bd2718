import asyncio
from dataclasses import dataclass, field

import pytest
from aiokafka import TopicPartition

from chassis.events import encode_event, new_event
from chassis.kafka import EventConsumer, backoff_delay

TOPIC = "order-placed"
TP = TopicPartition(TOPIC, 0)


@dataclass
class Record:
    offset: int
    value: bytes | None
    key: bytes | None = b"k"
    topic: str = TOPIC
    partition: int = 0
    headers: tuple = ()


@dataclass
class FakeConsumer:
    batches: list = field(default_factory=list)
    commits: list = field(default_factory=list)
    seeks: list = field(default_factory=list)
    fail_commits: int = 0
    fail_getmany: int = 0
    started: bool = False

    async def start(self):
        self.started = True

    async def stop(self):
        self.started = False

    async def getmany(self, timeout_ms=0, max_records=None):
        if self.fail_getmany:
            self.fail_getmany -= 1
            raise ConnectionError("broker unreachable")
        if self.batches:
            return self.batches.pop(0)
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def commit(self, offsets):
        if self.fail_commits:
            self.fail_commits -= 1
            raise ConnectionError("commit failed")
        self.commits.append(dict(offsets))

    def seek(self, tp, offset):
        self.seeks.append((tp, offset))

    def highwater(self, tp):
        return 10

    paused_now: set = field(default_factory=set)
    pause_calls: int = 0

    def assignment(self):
        return {TP}

    def pause(self, *tps):
        self.pause_calls += 1
        self.paused_now.update(tps)

    def resume(self, *tps):
        self.paused_now.difference_update(tps)


@dataclass
class FakeDlqProducer:
    fail_times: int = 0
    sent: list = field(default_factory=list)
    calls: int = 0

    async def publish_raw(self, topic, value, key, headers=()):
        self.calls += 1
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("dlq broker unreachable")
        self.sent.append((topic, value, key, dict(headers)))


class MemoryIdempotency:
    def __init__(self, seen=()):
        self.seen = set(seen)

    async def is_processed(self, event_id):
        return event_id in self.seen

    async def mark_processed(self, event_id):
        self.seen.add(event_id)


def event_record(offset, **data):
    event = new_event(TOPIC, "order-service", "o-1", data)
    return event, Record(offset, encode_event(event))


def make_consumer(handler, fake, dlq=None, **kwargs):
    kwargs.setdefault("backoff_initial", 0.001)
    kwargs.setdefault("backoff_max", 0.002)
    consumer = EventConsumer(
        "unused:9092",
        "g",
        [TOPIC],
        handler,
        producer_for_dlq=dlq or FakeDlqProducer(),
        consumer_factory=lambda: fake,
        **kwargs,
    )
    consumer._consumer = fake
    return consumer


async def run_idle(fake, seconds, **kwargs):
    """Start a consumer on `fake` with nothing to handle, let it run `seconds`, stop it."""

    async def handler(event):
        raise AssertionError("no records were sent")

    consumer = make_consumer(handler, fake, **kwargs)
    await consumer.start()
    await asyncio.sleep(seconds)
    await consumer.stop()


async def test_offset_is_committed_after_the_handler_succeeds():
    handled = []
    fake = FakeConsumer()

    async def handler(event):
        assert fake.commits == [{TP: 5}] * len(handled)  # nothing committed for this one yet
        handled.append(event.id)

    e1, r1 = event_record(5)
    consumer = make_consumer(handler, fake)
    await consumer.process_batch({TP: [r1]})
    assert handled == [e1.id]
    assert fake.commits == [{TP: 6}]


async def test_handler_is_retried_with_backoff_until_it_succeeds():
    attempts = 0

    async def handler(event):
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError("db hiccup")

    fake, dlq = FakeConsumer(), FakeDlqProducer()
    _, record = event_record(0)
    await make_consumer(handler, fake, dlq).process_batch({TP: [record]})
    assert attempts == 3
    assert dlq.sent == []
    assert fake.commits == [{TP: 1}]


async def test_poison_message_goes_to_dlq_with_error_headers_then_commits():
    attempts = 0

    async def handler(event):
        nonlocal attempts
        attempts += 1
        raise ValueError("bad total")

    fake, dlq = FakeConsumer(), FakeDlqProducer()
    _, record = event_record(7)
    await make_consumer(handler, fake, dlq, max_attempts=4).process_batch({TP: [record]})
    assert attempts == 4
    [(topic, value, key, headers)] = dlq.sent
    assert topic == "order-placed.dlq"
    assert (value, key) == (record.value, record.key)
    assert headers["x-error"] == b"bad total"
    assert headers["x-error-type"] == b"ValueError"
    assert headers["x-attempts"] == b"4"
    assert headers["x-original-topic"] == b"order-placed"
    assert headers["x-original-partition"] == b"0"
    assert headers["x-original-offset"] == b"7"
    assert fake.commits == [{TP: 8}]


async def test_undecodable_record_goes_straight_to_dlq_without_calling_the_handler():
    called = False

    async def handler(event):
        nonlocal called
        called = True

    fake, dlq = FakeConsumer(), FakeDlqProducer()
    await make_consumer(handler, fake, dlq).process_batch({TP: [Record(3, b"{oops")]})
    assert not called
    [(_, value, _, headers)] = dlq.sent
    assert value == b"{oops"
    assert headers["x-error-type"] == b"InvalidEvent"
    assert headers["x-attempts"] == b"0"
    assert fake.commits == [{TP: 4}]


async def test_failed_dlq_publish_is_retried_and_commit_waits_for_its_ack():
    async def handler(event):
        raise ValueError("poison")

    fake, dlq = FakeConsumer(), FakeDlqProducer(fail_times=3)
    _, record = event_record(0)
    await make_consumer(handler, fake, dlq, max_attempts=1).process_batch({TP: [record]})
    assert dlq.calls == 4
    assert len(dlq.sent) == 1
    assert fake.commits == [{TP: 1}]


async def test_offset_is_never_committed_while_the_dlq_is_down():
    async def handler(event):
        raise ValueError("poison")

    fake, dlq = FakeConsumer(), FakeDlqProducer(fail_times=10**9)
    _, record = event_record(0)
    consumer = make_consumer(handler, fake, dlq, max_attempts=1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(consumer.process_batch({TP: [record]}), 0.3)
    assert dlq.calls > 3
    assert fake.commits == []
    assert fake.seeks == [(TP, 0)]  # rewound: the record will be fetched again


async def test_redelivered_event_id_is_skipped_by_the_idempotency_store():
    handled = []

    async def handler(event):
        handled.append(event.id)

    store = MemoryIdempotency()
    fake = FakeConsumer()
    event, r1 = event_record(0)
    r2 = Record(1, r1.value)  # same event delivered again
    await make_consumer(handler, fake, idempotency=store).process_batch({TP: [r1, r2]})
    assert handled == [event.id]
    assert store.seen == {event.id}
    assert fake.commits == [{TP: 2}]  # one commit for the batch


async def test_failed_handler_does_not_mark_the_event_processed():
    async def handler(event):
        raise ValueError("nope")

    store = MemoryIdempotency()
    event, record = event_record(0)
    await make_consumer(handler, FakeConsumer(), idempotency=store, max_attempts=2).process_batch(
        {TP: [record]}
    )
    assert event.id not in store.seen


async def test_failed_commit_rewinds_to_the_uncommitted_record():
    async def handler(event):
        pass

    fake = FakeConsumer(fail_commits=1)
    _, r1 = event_record(10)
    _, r2 = event_record(11)
    with pytest.raises(ConnectionError):
        await make_consumer(handler, fake).process_batch({TP: [r1, r2]})
    assert fake.seeks == [(TP, 10)]
    assert fake.commits == []


async def test_records_of_a_partition_are_handled_in_order():
    seen = []

    async def handler(event):
        seen.append(event.data["n"])

    fake = FakeConsumer()
    records = [event_record(i, n=i)[1] for i in range(5)]
    await make_consumer(handler, fake).process_batch({TP: records})
    assert seen == [0, 1, 2, 3, 4]
    assert fake.commits == [{TP: 5}]  # after the batch, in one request


async def test_a_batch_over_several_partitions_is_committed_in_one_request():
    other = TopicPartition(TOPIC, 1)
    fake = FakeConsumer()

    async def handler(event):
        assert fake.commits == []  # nothing before the batch is through

    batch = {TP: [event_record(i)[1] for i in (3, 4)], other: [event_record(9)[1]]}
    await make_consumer(handler, fake).process_batch(batch)
    assert fake.commits == [{TP: 5, other: 10}]
    assert fake.seeks == []


async def test_a_slow_record_does_not_hold_back_the_commit_of_those_before_it():
    fake = FakeConsumer()
    seen_while_slow = []

    async def handler(event):
        if event.data["n"] == 2:
            await asyncio.sleep(0.5)  # over twice BATCH_COMMIT_INTERVAL_S
            seen_while_slow.extend(fake.commits)

    batch = {TP: [event_record(i, n=i)[1] for i in range(4)]}
    await make_consumer(handler, fake).process_batch(batch)
    assert seen_while_slow == [{TP: 2}]  # records 0 and 1, committed during record 2
    assert fake.commits == [{TP: 2}, {TP: 4}]


async def test_a_failing_record_commits_what_was_handled_before_it_and_rewinds_to_itself():
    other = TopicPartition(TOPIC, 1)
    fake = FakeConsumer()
    seen = []

    async def handler(event):
        if event.data["n"] == 2:
            raise ConnectionRefusedError("database is down")
        seen.append(event.data["n"])

    batch = {
        TP: [event_record(i, n=i)[1] for i in range(4)],
        other: [event_record(7, n=7)[1]],
    }
    with pytest.raises(ConnectionRefusedError):
        await make_consumer(handler, fake).process_batch(batch)
    assert seen == [0, 1]
    assert fake.commits == [{TP: 2}]  # records 0 and 1 stay done
    # Read again from the failed record; the other partition's records were not reached.
    assert sorted(fake.seeks) == [(TP, 2), (other, 7)]


async def test_a_periodic_commit_in_flight_lands_before_the_batch_commit():
    """The batch's last records are handled while a periodic commit is on its way (aiokafka
    shields it, so cancelling its task would not stop it): the batch commit waits for it, and
    the offsets land in order, never moving back."""
    fake = FakeConsumer()
    landed = []
    plain_commit = fake.commit

    async def slow_commit(offsets):
        if not landed:  # the first (periodic) commit is slow on the wire
            await asyncio.sleep(0.3)
        await plain_commit(offsets)
        landed.append(dict(offsets))

    fake.commit = slow_commit  # type: ignore[method-assign]

    async def handler(event):
        if event.data["n"] == 1:
            await asyncio.sleep(0.25)  # past BATCH_COMMIT_INTERVAL_S: record 0's commit starts

    batch = {TP: [event_record(i, n=i)[1] for i in range(3)]}
    await make_consumer(handler, fake).process_batch(batch)
    assert landed == [{TP: 1}, {TP: 3}]


async def test_a_cancelled_batch_rewinds_its_uncommitted_progress():
    fake = FakeConsumer()

    async def handler(event):
        if event.data["n"] == 1:
            raise asyncio.CancelledError

    batch = {TP: [event_record(i, n=i)[1] for i in (0, 1)]}
    with pytest.raises(asyncio.CancelledError):
        await make_consumer(handler, fake).process_batch(batch)
    assert fake.commits == []  # no commit on the way out of a cancelled task
    assert fake.seeks == [(TP, 0)]  # record 0 is read again (idempotent consumers skip it)


async def test_loop_survives_broker_errors_and_keeps_consuming():
    handled = asyncio.Event()

    async def handler(event):
        handled.set()

    _, record = event_record(0)
    fake = FakeConsumer(batches=[{TP: [record]}], fail_getmany=2)
    consumer = EventConsumer(
        "unused:9092",
        "g",
        [TOPIC],
        handler,
        producer_for_dlq=FakeDlqProducer(),
        consumer_factory=lambda: fake,
        backoff_max=0.05,
        poll_timeout_ms=10,
    )
    await consumer.start()
    try:
        await asyncio.wait_for(handled.wait(), 5)
        await asyncio.sleep(0.05)
    finally:
        await consumer.stop()
    assert fake.commits == [{TP: 1}]
    assert not fake.started


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (10, 5.0)]:
        for _ in range(50):
            delay = backoff_delay(attempt, 0.1, 5.0)
            assert ceiling / 2 <= delay <= ceiling


async def test_dependency_outage_pauses_instead_of_dead_lettering():
    fake, dlq = FakeConsumer(), FakeDlqProducer()
    calls = 0

    async def handler(event):
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("database is down")

    _, record = event_record(7)
    consumer = make_consumer(handler, fake, dlq, max_attempts=2)
    with pytest.raises(ConnectionRefusedError):
        await consumer.process_batch({TP: [record]})
    assert calls == 1  # no burning of retries against a dependency that is away
    assert dlq.sent == []
    assert fake.commits == []
    assert fake.seeks == [(TP, 7)]  # the record is read again once the loop has backed off


async def test_custom_transient_errors_are_honoured():
    class DatabaseDown(Exception):
        pass

    fake, dlq = FakeConsumer(), FakeDlqProducer()

    async def handler(event):
        raise DatabaseDown("pool exhausted")

    _, record = event_record(0)
    consumer = make_consumer(handler, fake, dlq, transient_errors=(DatabaseDown,))
    with pytest.raises(DatabaseDown):
        await consumer.process_batch({TP: [record]})
    assert dlq.sent == []


async def test_idle_consumer_pauses_fetching_between_empty_polls():
    fake = FakeConsumer()

    await run_idle(fake, 0.2, idle_pause_ms=30, poll_timeout_ms=1000)
    assert fake.pause_calls >= 2  # it rested between polls instead of fetching non-stop
    assert fake.paused_now == set()  # and always resumed what it paused


async def test_records_arriving_after_a_quiet_spell_are_still_handled():
    handled = []
    fake = FakeConsumer()

    async def handler(event):
        handled.append(event.id)

    event, record = event_record(3)
    consumer = make_consumer(handler, fake, idle_pause_ms=20)
    await consumer.start()
    await asyncio.sleep(0.1)
    fake.batches.append({TP: [record]})
    for _ in range(100):
        if handled:
            break
        await asyncio.sleep(0.01)
    await consumer.stop()
    assert handled == [event.id]
    assert fake.commits == [{TP: 4}]


@pytest.mark.parametrize("idle_pause_ms", [20, 0])
async def test_the_fetcher_is_paused_while_a_batch_is_handled(idle_pause_ms):
    fake = FakeConsumer()
    paused_while_handling = []

    async def handler(event):
        paused_while_handling.append(set(fake.paused_now))

    _, record = event_record(3)
    fake.batches.append({TP: [record]})
    consumer = make_consumer(handler, fake, idle_pause_ms=idle_pause_ms, poll_timeout_ms=10)
    await consumer.start()
    for _ in range(100):
        if fake.commits:
            break
        await asyncio.sleep(0.01)
    await consumer.stop()
    # With idle pauses (the local broker answers a fetch at once) the fetcher rests while
    # the handler works; against a real cluster (0) it keeps prefetching.
    assert paused_while_handling == [{TP} if idle_pause_ms else set()]
    assert fake.commits == [{TP: 4}]
    assert fake.paused_now == set()


@dataclass
class QuietBroker(FakeConsumer):
    """A fake that also answers the idle look: partition end and this consumer's position."""

    end: int = 4
    at: int = 4
    fetches: int = 0
    looks: int = 0

    async def getmany(self, timeout_ms=0, max_records=None):
        self.fetches += 1
        return await super().getmany(timeout_ms, max_records)

    async def end_offsets(self, partitions):
        self.looks += 1
        return {tp: self.end for tp in partitions}

    async def position(self, tp):
        return self.at


async def test_an_idle_consumer_only_looks_at_the_partition_ends_until_a_record_arrives():
    handled = []
    fake = QuietBroker()

    async def handler(event):
        handled.append(event.id)

    consumer = make_consumer(handler, fake, idle_pause_ms=10)
    await consumer.start()
    await asyncio.sleep(0.3)
    fetches, looks = fake.fetches, fake.looks
    assert looks >= 3  # it kept looking ...
    assert fetches <= 2  # ... without resuming the fetcher while nothing was new
    assert fake.paused_now == {TP}
    event, record = event_record(4)
    fake.batches.append({TP: [record]})
    fake.end = 5  # the broker now holds offset 4
    for _ in range(100):
        if handled:
            break
        await asyncio.sleep(0.01)
    await consumer.stop()
    assert handled == [event.id]
    assert fake.commits == [{TP: 5}]
    assert fake.paused_now == set()


async def test_the_idle_look_grows_its_interval_up_to_the_limit():
    fake = QuietBroker()

    await run_idle(fake, 1.0, idle_pause_ms=10)
    # 10, 20, 40, 80 and then 80 ms (limit 8x): ~14 looks in a second, not 100.
    assert 5 <= fake.looks <= 20


async def test_a_failing_idle_look_falls_back_to_fetching():
    fake = QuietBroker()
    failures = []

    async def broken(partitions):
        failures.append(1)
        raise ConnectionError("broker away")

    fake.end_offsets = broken  # type: ignore[method-assign]

    await run_idle(fake, 0.2, idle_pause_ms=10)
    assert failures
    assert fake.fetches >= len(failures)  # every failed look led to a fetch
    assert fake.paused_now == set()


async def test_a_position_still_being_looked_up_is_not_waited_for():
    fake = QuietBroker()

    async def unknown(tp):
        await asyncio.sleep(60)  # aiokafka waits for a position it does not know yet

    fake.position = unknown  # type: ignore[method-assign]

    await run_idle(fake, 0.8, idle_pause_ms=10)
    assert fake.fetches >= 3  # each look gave up on the position after 0.1 s and fetched
    assert fake.paused_now == set()


def _driver_outages():
    from elastic_transport import ConnectionError as EsConnectionError
    from pymongo.errors import AutoReconnect
    from redis.exceptions import ConnectionError as RedisConnectionError
    from sqlalchemy.exc import DBAPIError, OperationalError

    invalidated = DBAPIError(
        "SELECT 1", {}, Exception("terminating connection"), connection_invalidated=True
    )
    return [
        OperationalError("SELECT 1", {}, ConnectionRefusedError("refused")),
        invalidated,
        AutoReconnect("mongo gone"),
        RedisConnectionError("redis gone"),
        EsConnectionError("es gone"),
    ]


@pytest.mark.parametrize("outage", _driver_outages(), ids=lambda e: type(e).__name__)
async def test_every_registered_driver_outage_pauses_without_a_service_tuple(outage):
    # No transient_errors given: the chassis registry alone must say "dependency down".
    fake, dlq = FakeConsumer(), FakeDlqProducer()

    async def handler(event):
        raise outage

    _, record = event_record(3)
    consumer = make_consumer(handler, fake, dlq, max_attempts=1)
    with pytest.raises(type(outage)):
        await consumer.process_batch({TP: [record]})
    assert dlq.sent == []
    assert fake.seeks == [(TP, 3)]
