"""Kafka producer and at-least-once consumer loop (manual commit, bounded retries, DLQ, dedup).

The consumer commits a record's offset only after its handler succeeded or the record was
acknowledged by ``<topic>.dlq``, so a crash at any point redelivers rather than loses it.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol, cast

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    DuplicateSequenceNumber,
    IllegalStateError,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    InvalidTxnState,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge, Histogram

from chassis.dependencies import describe_outage
from chassis.errors import DependencyTimeout, DependencyUnavailable
from chassis.events import CloudEvent, InvalidEvent, decode_event, encode_event
from chassis.resilience import backoff_delay
from chassis.settings import ConsumerSettings
from chassis.tracing import context_from_headers, current_traceparent

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer(__name__)

EVENTS_PUBLISHED = Counter(
    "kafka_events_published_total", "Records acknowledged by the broker", ["topic"]
)
PUBLISH_FAILURES = Counter(
    "kafka_publish_failures_total", "Records the broker did not acknowledge", ["topic"]
)
PRODUCERS_REPLACED = Counter(
    "kafka_producers_replaced_total",
    "Producers discarded for a fresh one after a fatal error or repeated failures",
    ["reason"],
)
EVENTS_CONSUMED = Counter(
    "kafka_events_consumed_total", "Records handled successfully", ["topic", "group"]
)
EVENTS_SKIPPED = Counter(
    "kafka_events_duplicate_total", "Redelivered records skipped by idempotency", ["topic", "group"]
)
HANDLER_FAILURES = Counter(
    "kafka_handler_failures_total", "Failed handler attempts", ["topic", "group"]
)
EVENTS_DEAD_LETTERED = Counter(
    "kafka_events_dead_lettered_total", "Records sent to <topic>.dlq", ["topic", "group"]
)
CONSUMER_LAG = Gauge(
    "kafka_consumer_lag", "Records behind the partition end", ["topic", "partition", "group"]
)
HANDLER_SECONDS = Histogram(
    "kafka_handler_duration_seconds", "Time to handle one record", ["topic", "group"]
)

Handler = Callable[[CloudEvent], Awaitable[None]]
Headers = Sequence[tuple[str, bytes]]

DLQ_SUFFIX = ".dlq"
# Errors that mean "a dependency is away", not "this message is poison": the consumer pauses
# and reads the record again instead of dead-lettering it. Every driver's are registered once
# in chassis.dependencies; `transient_errors` adds a service's own (e.g. "another replica is
# mid-send"), and a DependencyUnavailable/DependencyTimeout raised by a handler counts too.
# How long a resumed fetcher may run per poll when idle pauses are on.
IDLE_FETCH_WINDOW_MS = 5
# An idle consumer's look for new records grows from idle_pause_ms to this many times it
# (8: 100 -> 800 ms); each look is a broker round trip, so a quiet consumer wakes about
# 1.25 times a second; after a record the next look is idle_pause_ms away again.
IDLE_PAUSE_GROWTH_LIMIT = 8
# A look for new records that takes longer than this is given up: the fetch path is tried.
IDLE_CHECK_TIMEOUT_S = 5.0
IDLE_POSITION_TIMEOUT_S = 0.1
# aiokafka's background fetcher wakes this often when it has nothing to fetch (its default,
# 200 ms: 5 wake-ups a second per paused consumer). Resuming a partition, a rebalance and a
# metadata refresh wake it at once anyway, so the timeout is only its safety net.
FETCHER_IDLE_TIMEOUT_MS = 2000
# After a fetch that brought nothing, the next fetch to that broker waits this long. Kafka
# holds an empty fetch for fetch.max.wait.ms (500 ms) itself, so there this only adds 20 ms to
# a wait of 500; the local stand-in answers an empty fetch at once, and aiokafka's fetcher then
# asks again at once: a consumer with records arriving every few ms spent 4.6-6.9 ms of CPU
# per record spinning on empty fetches, 0.8 ms with this pause (records 12 ms later at p50).
EMPTY_FETCH_PAUSE_S = 0.02
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError)
# A batch's offsets are committed in one request after its last record; while it is handled,
# what is done so far is also committed this often, so a slow record does not hold back the
# commits of the records before it.
BATCH_COMMIT_INTERVAL_S = 0.2
# At a batch's end, how long its periodic commit may take to finish before it is cancelled.
BATCH_FLUSH_WAIT_S = 5.0


def pace_empty_fetches(consumer: Any, pause_seconds: float) -> bool:
    """Make a started AIOKafkaConsumer's background fetcher wait `pause_seconds` after a
    fetch that brought no records, as a broker's own fetch.max.wait.ms would (see
    EMPTY_FETCH_PAUSE_S). aiokafka has no setting for it, so its fetch step is wrapped; False
    (and a warning) when this aiokafka has no such step, or for a consumer that is not
    aiokafka's (test doubles)."""
    fetcher = getattr(consumer, "_fetcher", None)
    fetch = getattr(fetcher, "_proc_fetch_request", None)
    if fetch is None:
        if isinstance(consumer, AIOKafkaConsumer):
            log.warning("kafka.consumer.fetch_pacing_unavailable", reason="aiokafka changed")
        return False
    if getattr(fetch, "paced", False):
        return True

    async def paced(*args: Any, **kwargs: Any) -> bool:
        has_data = bool(await fetch(*args, **kwargs))
        if not has_data:
            # aiokafka cancels this step on a rebalance or close and expects it to return
            # (its own step does the same).
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(pause_seconds)
        return has_data

    paced.paced = True  # type: ignore[attr-defined]
    fetcher._proc_fetch_request = paced  # type: ignore[union-attr]
    return True


class IdempotencyStore(Protocol):
    async def is_processed(self, event_id: str) -> bool: ...

    async def mark_processed(self, event_id: str) -> None: ...


# An idempotent producer that got one of these is stuck for good: its producer id and sequence
# numbers no longer match what the broker holds (a broker that restarted and lost its last
# writes answers OutOfOrderSequenceNumber to every later batch), or it was closed or fenced.
# Retrying with the same instance can never succeed; a new instance gets a new producer id.
FATAL_PRODUCER_ERRORS: tuple[type[BaseException], ...] = (
    OutOfOrderSequenceNumber,
    DuplicateSequenceNumber,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    UnknownProducerId,
    InvalidTxnState,
    ProducerFenced,
    ProducerClosed,
    IllegalStateError,
)
# Any other error this many times in a row (no ack in between) also retires the instance:
# whatever state it is in, a fresh client starts from a clean one.
REPLACE_AFTER_FAILURES = 3


class EventProducer:
    """AIOKafkaProducer with acks=all and idempotence; ``publish`` returns once acknowledged.

    Self-healing: every send's outcome is watched. After an error no retry can cure
    (``FATAL_PRODUCER_ERRORS``: sequence or epoch out of step with the broker, producer fenced or
    closed) or ``REPLACE_AFTER_FAILURES`` failures in a row, the instance is retired and the next
    send starts a fresh one, so a relay carries on by itself after a broker restart.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str | None = None,
        request_timeout_ms: int = 10_000,
        linger_ms: int = 0,
        producer_factory: Callable[..., Any] = AIOKafkaProducer,
    ) -> None:
        self._options: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "acks": "all",
            "enable_idempotence": True,
            "request_timeout_ms": request_timeout_ms,
            "linger_ms": linger_ms,
        }
        if client_id:
            self._options["client_id"] = client_id
        self._factory = producer_factory
        self._timeout = request_timeout_ms / 1000
        self._producer: Any = None
        self._lock = asyncio.Lock()
        # Set when the current instance must not be used again (see the class docstring).
        self._retire_reason: str | None = None
        self._failures_in_a_row = 0
        self.replaced = 0  # instances retired so far, for tests and logs

    @property
    def started(self) -> bool:
        return self._producer is not None

    def observe(self, outcome: "asyncio.Future[Any]", producer: Any = None) -> None:
        """Count one send's outcome towards retiring the instance that sent it."""
        if outcome.cancelled():
            return
        error = outcome.exception()
        if producer is not None and producer is not self._producer:
            return  # an instance already replaced
        if error is None:
            self._failures_in_a_row = 0
            return
        self._note_failure(error)

    def _note_failure(self, error: BaseException) -> None:
        self._failures_in_a_row += 1
        if isinstance(error, FATAL_PRODUCER_ERRORS):
            self._retire_reason = self._retire_reason or type(error).__name__
        elif self._failures_in_a_row >= REPLACE_AFTER_FAILURES:
            self._retire_reason = self._retire_reason or "repeated_failures"

    async def _replace_if_retired(self) -> None:
        reason = self._retire_reason
        if reason is None or self._producer is None:
            return
        log.warning(
            "kafka.producer.replacing", reason=reason, failures_in_a_row=self._failures_in_a_row
        )
        await self.stop()
        self._retire_reason = None
        self._failures_in_a_row = 0
        self.replaced += 1
        PRODUCERS_REPLACED.labels(reason).inc()

    async def start(self) -> None:
        """Connect to the broker; raises if it cannot be reached (``publish`` retries later)."""
        async with self._lock:
            if self._producer is not None:
                return
            producer = self._factory(**self._options)
            try:
                await producer.start()
            except BaseException:
                # A failed start leaves half-open client state; a fresh instance is used next time.
                await producer.stop()
                raise
            self._producer = producer
            log.info("kafka.producer.started", bootstrap=self._options["bootstrap_servers"])

    async def stop(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
            if producer is None:
                return
            try:
                # aiokafka's stop() flushes and would wait forever for an unreachable broker.
                async with asyncio.timeout(self._timeout):
                    await producer.stop()
            except TimeoutError:
                log.warning("kafka.producer.stop_timeout", abandoned="unacknowledged records")
                with contextlib.suppress(Exception):
                    await producer._sender.close()
                with contextlib.suppress(Exception):
                    await producer.client.close()
            log.info("kafka.producer.stopped")

    async def send_raw(
        self, topic: str, value: bytes, key: bytes | None, headers: Headers = ()
    ) -> "asyncio.Future[Any]":
        """Queue one record; the returned future resolves when the broker acknowledges it."""
        await self._replace_if_retired()
        if self._producer is None:
            await self.start()
        producer = self._producer
        try:
            future = await producer.send(topic, value=value, key=key, headers=list(headers))
        except Exception as exc:
            self._note_failure(exc)
            raise
        if future.done():
            self.observe(future, producer)
        else:
            # Registered before any awaiter's wake-up, so it runs before the caller sees it.
            future.add_done_callback(lambda done: self.observe(done, producer))
        return cast("asyncio.Future[Any]", future)

    async def publish_raw(
        self, topic: str, value: bytes, key: bytes | None, headers: Headers = ()
    ) -> Any:
        """Send one record and wait for the broker's ack (bounded by the request timeout)."""
        try:
            async with asyncio.timeout(self._timeout + 1):
                ack = await self.send_raw(topic, value, key, headers)
                metadata = await ack
        except Exception:
            PUBLISH_FAILURES.labels(topic).inc()
            raise
        EVENTS_PUBLISHED.labels(topic).inc()
        return metadata

    async def publish(
        self,
        topic: str,
        event: CloudEvent,
        key: str | None = None,
        *,
        traceparent: str | None = None,
    ) -> Any:
        """Publish ``event``; the key defaults to its subject (one aggregate, one partition),
        else its id."""
        traceparent = traceparent or current_traceparent()
        headers = [("traceparent", traceparent.encode())] if traceparent else []
        record_key = (key if key is not None else event.subject or event.id).encode()
        return await self.publish_raw(topic, encode_event(event), record_key, headers)


class EventConsumer:
    """At-least-once consumer loop for one group over ``topics``, run as a background task.

    Per record: decode (undecodable goes straight to the DLQ), skip ids the idempotency
    store has seen, call ``handler`` with up to ``max_attempts`` tries (exponential backoff
    with jitter), then dead-letter the original record to ``<topic>.dlq``. The offset is
    committed only after that; a failing DLQ publish is retried until it succeeds. A handler
    error of a ``transient_errors`` type (a database or cache that is down) is not the
    message's fault: the loop backs off and re-reads the record, however long that takes.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        handler: Handler,
        *,
        producer_for_dlq: EventProducer,
        max_attempts: int = 5,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        idempotency: IdempotencyStore | None = None,
        poll_timeout_ms: int = 1000,
        max_records: int = 100,
        idle_pause_ms: int = 100,
        consumer_factory: Callable[..., Any] | None = None,
        transient_errors: tuple[type[BaseException], ...] = TRANSIENT_ERRORS,
        group_instance_id: str | None = None,
        session_timeout_ms: int = 10_000,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.group_id = group_id
        self.topics = list(topics)
        self._bootstrap = bootstrap_servers
        self._handler = handler
        self._dlq = producer_for_dlq
        self._max_attempts = max_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._idempotency = idempotency
        self._transient = transient_errors
        self._poll_timeout_ms = poll_timeout_ms
        self._max_records = max_records
        self._idle_pause = idle_pause_ms / 1000
        # Quiet spells double the pause up to this; the first record resets it.
        self._idle_pause_max = self._idle_pause * IDLE_PAUSE_GROWTH_LIMIT
        self._quiet_polls = 0
        self._factory = consumer_factory or self._default_consumer
        self.group_instance_id = group_instance_id or None
        self._session_timeout_ms = session_timeout_ms
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    @classmethod
    def from_settings(
        cls,
        settings: ConsumerSettings,
        topics: Sequence[str],
        handler: Handler,
        *,
        producer_for_dlq: EventProducer,
        **options: Any,
    ) -> "EventConsumer":
        """The service's consumer as its settings say: the broker, `consumer_group`,
        `consumer_max_attempts`, the idle pause and this replica's static membership
        (`consumer_instance_id`); `options` go to the constructor as they are."""
        return cls(
            settings.kafka_bootstrap_servers,
            settings.consumer_group,
            topics,
            handler,
            producer_for_dlq=producer_for_dlq,
            max_attempts=settings.consumer_max_attempts,
            idle_pause_ms=settings.kafka_consumer_idle_pause_ms,
            group_instance_id=settings.consumer_instance_id,
            **options,
        )

    def _is_transient(self, exc: BaseException) -> bool:
        return (
            isinstance(exc, (*self._transient, DependencyUnavailable, DependencyTimeout))
            or describe_outage(exc) is not None
        )

    def _default_consumer(self) -> AIOKafkaConsumer:
        # Static membership when an instance id is given: a member that died without leaving
        # (kill -9) is replaced by its restarted self at once, on Kafka and on the local
        # stand-in alike; the stand-in never expires a dead dynamic member, which kept its
        # partitions for good. Kafka still expires a static member that does not come back
        # after session_timeout_ms.
        return AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self._bootstrap,
            group_id=self.group_id,
            group_instance_id=self.group_instance_id,
            client_id=self.group_instance_id or "aiokafka",
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(1000, self._session_timeout_ms // 3),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            consumer_timeout_ms=FETCHER_IDLE_TIMEOUT_MS,
        )

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"consumer:{self.group_id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_consumer()

    async def _close_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        self.ready.clear()
        if consumer is not None:
            try:
                await consumer.stop()
            except Exception:
                log.exception("kafka.consumer.stop_failed", group=self.group_id)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                if self._consumer is None:
                    consumer = self._factory()
                    try:
                        await consumer.start()
                    except BaseException:
                        await consumer.stop()
                        raise
                    pace_empty_fetches(consumer, EMPTY_FETCH_PAUSE_S)
                    self._consumer = consumer
                    self.ready.set()
                    log.info("kafka.consumer.started", group=self.group_id, topics=self.topics)
                batch = await self._consumer.getmany(
                    timeout_ms=self._fetch_window_ms(), max_records=self._max_records
                )
                if any(batch.values()):
                    self._quiet_polls = 0
                    await self._process_paused(batch)
                else:
                    await self._rest_while_idle()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A broker outage or a failed commit must not end the loop: log, wait, go on.
                failures += 1
                log.exception(
                    "kafka.consumer.loop_error",
                    group=self.group_id,
                    error=str(exc),
                    failures=failures,
                )
                await asyncio.sleep(backoff_delay(min(failures, 10), 0.5, self._backoff_max))

    def _fetch_window_ms(self) -> int:
        # With idle pauses the fetcher only runs inside this short window (see below).
        if self._idle_pause:
            return min(self._poll_timeout_ms, IDLE_FETCH_WINDOW_MS)
        return self._poll_timeout_ms

    async def _rest_while_idle(self) -> None:
        """After an empty poll, pause fetching until the broker holds something unread.

        Kafka holds an empty fetch for fetch.max.wait.ms, but a broker that answers at once
        (noida-db in the local stack) turns aiokafka's background fetcher into a busy loop:
        measured 85% of a core per idle consumer. Pausing the partitions stops the fetcher.
        While paused, the consumer looks every ``idle_pause_ms`` whether the partitions' ends
        moved past its positions: one ListOffsets round trip, about half the CPU of a resumed
        fetcher's window (measured 1.7 ms against 3.4 ms per wake-up). The look doubles its
        interval with each quiet one, up to IDLE_PAUSE_GROWTH_LIMIT times ``idle_pause_ms``; a
        record resets it. The cost is at most that interval of extra latency for the first
        event after a quiet spell. Set ``idle_pause_ms`` to 0 against a real Kafka cluster to
        rely on the broker's wait.
        """
        if not self._idle_pause:
            return
        async with self._fetching_paused() as partitions:
            while True:
                pause = min(self._idle_pause * 2 ** min(self._quiet_polls, 8), self._idle_pause_max)
                self._quiet_polls += 1
                await asyncio.sleep(pause)
                # A rebalance during the pause: fetch (and look again) with the new assignment.
                if self._consumer.assignment() != partitions or await self._unread(partitions):
                    return

    @contextlib.asynccontextmanager
    async def _fetching_paused(self) -> AsyncIterator[set[TopicPartition]]:
        """The assigned partitions, paused for the block; on leaving, those still assigned
        are resumed (a rebalance meanwhile may have taken some away)."""
        consumer = self._consumer
        partitions = consumer.assignment()
        consumer.pause(*partitions)
        try:
            yield partitions
        finally:
            still_assigned = consumer.assignment()
            consumer.resume(*(tp for tp in partitions if tp in still_assigned))

    async def _process_paused(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """With idle pauses on, handle a batch with the partitions paused: the local broker
        answers a fetch at once, so a resumed fetcher fetches non-stop while the handler works
        (measured ~20 % of notification-service's CPU during order placement). What arrives
        meanwhile is fetched right after the batch."""
        if not self._idle_pause:
            await self.process_batch(batch)
            return
        async with self._fetching_paused():
            await self.process_batch(batch)

    async def _unread(self, partitions: set[TopicPartition]) -> bool:
        """Whether any of ``partitions`` holds a record past this consumer's position. Any
        doubt (an error, a slow broker, a position not known yet) counts as yes: the fetch
        path then does what it does for any record, errors included."""
        if not partitions:
            return False
        consumer = self._consumer
        try:
            async with asyncio.timeout(IDLE_CHECK_TIMEOUT_S):
                ends = await consumer.end_offsets(list(partitions))
            # A known position answers at once; one still being looked up is not waited for.
            async with asyncio.timeout(IDLE_POSITION_TIMEOUT_S):
                for tp in partitions:
                    if ends.get(tp, 0) > await consumer.position(tp):
                        return True
        except Exception:
            return True
        return False

    async def process_batch(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Handle each partition's records in order, then commit the batch's offsets in one
        request (under load a batch holds tens of records: one commit each was measured at
        ~6 % of notification-service's CPU); a long batch also commits its progress every
        BATCH_COMMIT_INTERVAL_S. When a record fails, what was handled before it is committed,
        then the partitions are rewound. A crash mid-batch redelivers the
        batch's handled records, which idempotent consumers skip (at-least-once, as ever)."""
        pending = {tp: list(records) for tp, records in batch.items() if records}
        first = {tp: records[0].offset for tp, records in pending.items()}
        handled: dict[TopicPartition, int] = {}  # next offset per partition, not committed yet
        done = asyncio.Event()
        flusher = asyncio.create_task(self._commit_while_handling(handled, done))
        try:
            failure: Exception | None = None
            try:
                for tp, records in pending.items():
                    while records:
                        record = records[0]
                        await self.process_record(record)
                        records.pop(0)
                        handled[tp] = record.offset + 1
                        self._observe_lag(tp, record.offset + 1)
            except Exception as exc:
                failure = exc
            finally:
                # The periodic commit ends, one in flight finishing first, so that the commit
                # below lands after it and offsets only move forward. (Cancelling it would not
                # do: aiokafka shields the commit request, which would then land whenever it
                # does.) Only one that hangs past BATCH_FLUSH_WAIT_S is cancelled: its late
                # landing could move an offset back, which means redelivery, never a skip.
                done.set()
                ended, _ = await asyncio.wait({flusher}, timeout=BATCH_FLUSH_WAIT_S)
                if not ended:
                    flusher.cancel()
                    await asyncio.wait({flusher})
            if handled:
                await self._consumer.commit(handled)
                handled = {}
            if failure is not None:
                raise failure
        except BaseException:
            # Rewind every partition to its first unfinished record so nothing is skipped:
            # those records are fetched again (at-least-once); a partition whose progress was
            # not committed (commit failed, or cancelled) goes back to the batch's start.
            for tp, records in pending.items():
                offset = first[tp] if tp in handled else records[0].offset if records else None
                if offset is not None:
                    # IllegalStateError: partition revoked; its new owner starts at the commit.
                    with contextlib.suppress(IllegalStateError):
                        self._consumer.seek(tp, offset)
            raise

    async def _commit_while_handling(
        self, handled: dict[TopicPartition, int], done: asyncio.Event
    ) -> None:
        """Every BATCH_COMMIT_INTERVAL_S, commit what the running batch has handled so far,
        until `done` is set."""
        committed: dict[TopicPartition, int] = {}
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(BATCH_COMMIT_INTERVAL_S):
                    await done.wait()
            if done.is_set():
                return
            if handled == committed:
                continue
            snapshot = dict(handled)
            try:
                await self._consumer.commit(snapshot)
            except Exception:
                continue  # the batch's own commit at its end fails or succeeds for good
            committed = snapshot

    def _observe_lag(self, tp: TopicPartition, position: int) -> None:
        try:
            end = self._consumer.highwater(tp)
        except Exception:
            return
        if isinstance(end, int):
            CONSUMER_LAG.labels(tp.topic, str(tp.partition), self.group_id).set(
                max(0, end - position)
            )

    async def process_record(self, record: ConsumerRecord) -> None:
        """Handle one record to completion: handled, skipped as duplicate, or dead-lettered.

        Errors of the idempotency store are infrastructure trouble, not a poison message:
        they propagate (the loop backs off and the record is fetched again).
        """
        topic = record.topic
        try:
            event = decode_event(record.value, record.headers)
        except InvalidEvent as exc:
            log.warning(
                "kafka.event.undecodable", topic=topic, offset=record.offset, error=str(exc)
            )
            await self._dead_letter(record, exc, attempts=0)
            return

        if self._idempotency is not None and await self._idempotency.is_processed(event.id):
            EVENTS_SKIPPED.labels(topic, self.group_id).inc()
            log.info("kafka.event.duplicate_skipped", topic=topic, event_id=event.id)
            return

        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                # Each attempt is a span under the context the producer stamped on the record.
                with _tracer.start_as_current_span(
                    f"{topic} process",
                    context=context_from_headers(record.headers),
                    kind=SpanKind.CONSUMER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.destination.name": topic,
                        "messaging.message.id": event.id,
                        "messaging.consumer.group.name": self.group_id,
                    },
                ):
                    await self._handler(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                HANDLER_FAILURES.labels(topic, self.group_id).inc()
                if self._is_transient(exc):
                    log.warning(
                        "kafka.handler.dependency_down",
                        topic=topic,
                        event_id=event.id,
                        error=str(exc),
                        error_type=type(exc).__name__,
                    )
                    raise
                log.warning(
                    "kafka.handler.failed",
                    topic=topic,
                    event_id=event.id,
                    attempt=attempt,
                    max_attempts=self._max_attempts,
                    error=str(exc),
                    error_type=type(exc).__name__,
                )
                if attempt >= self._max_attempts:
                    await self._dead_letter(record, exc, attempts=attempt)
                    return
                await asyncio.sleep(
                    backoff_delay(attempt, self._backoff_initial, self._backoff_max)
                )
                continue
            HANDLER_SECONDS.labels(topic, self.group_id).observe(time.perf_counter() - started)
            break

        if self._idempotency is not None:
            await self._idempotency.mark_processed(event.id)
        EVENTS_CONSUMED.labels(topic, self.group_id).inc()

    async def _dead_letter(
        self, record: ConsumerRecord, error: BaseException, attempts: int
    ) -> None:
        headers = [
            *[(k, v) for k, v in (record.headers or ()) if not k.startswith("x-")],
            ("x-error", str(error)[:4000].encode()),
            ("x-error-type", type(error).__name__.encode()),
            ("x-attempts", str(attempts).encode()),
            ("x-original-topic", record.topic.encode()),
            ("x-original-partition", str(record.partition).encode()),
            ("x-original-offset", str(record.offset).encode()),
            ("x-consumer-group", self.group_id.encode()),
        ]
        dlq_topic = record.topic + DLQ_SUFFIX
        tries = 0
        while True:
            tries += 1
            try:
                await self._dlq.publish_raw(dlq_topic, record.value, record.key, headers)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Never drop: without the DLQ ack the offset stays uncommitted; keep trying.
                log.error(
                    "kafka.dlq.publish_failed",
                    topic=dlq_topic,
                    offset=record.offset,
                    tries=tries,
                    error=str(exc),
                )
                await asyncio.sleep(backoff_delay(min(tries, 10), 0.2, self._backoff_max))
        EVENTS_DEAD_LETTERED.labels(record.topic, self.group_id).inc()
        log.error(
            "kafka.event.dead_lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            attempts=attempts,
            error_type=type(error).__name__,
        )
