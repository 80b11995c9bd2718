"""What both transactional outboxes share, whatever their store (PostgreSQL in
``chassis.outbox``, MongoDB in ``chassis.mongo_outbox``): the fields an event is stored with,
the outbox metrics, and the publish step of the relay.

The publish step is written once, in ``OutboxPublisher.run_once``: claim a batch of unsent
records, send them to Kafka in order, mark the acknowledged ones sent, count them, and record
the failure on the rest before raising (the loop in ``chassis.relay_loop`` then backs off and
retries). A store adapter (a subclass) says only how a batch is claimed, marked sent and
released after a failure, and how its backlog is counted and its old records deleted.

No database driver is imported here, so a MongoDB service's image needs no SQLAlchemy.
"""

import asyncio
import contextlib
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from chassis.events import CloudEvent, encode_event
from chassis.kafka import EventProducer
from chassis.relay_loop import RelayLoop
from chassis.tracing import current_traceparent

log = structlog.get_logger(__name__)

# The label is the outbox's table (PostgreSQL) or collection (MongoDB) name.
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published", ["table"])
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_unsent_age_seconds", "Age of the oldest unpublished outbox row", ["table"]
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows published", ["table"])
OUTBOX_PUBLISH_FAILURES = Counter(
    "outbox_publish_failures_total", "Outbox rows whose publish failed", ["table"]
)

__all__ = [
    "OUTBOX_BACKLOG",
    "OUTBOX_OLDEST_AGE",
    "OUTBOX_PUBLISHED",
    "OUTBOX_PUBLISH_FAILURES",
    "OutboxPublisher",
    "OutboxRecord",
    "record_fields",
    "send_in_order",
]


def record_fields(
    event: CloudEvent,
    key: str | None,
    traceparent: str | None,
    headers: Mapping[str, str] | None,
) -> dict[str, Any]:
    """What every outbox (PostgreSQL or MongoDB) stores for an event: the record key (the
    event's subject by default, so one aggregate's events share a partition), the exact
    payload, and the record headers with the trace context current when the event was written,
    so consumers continue this trace."""
    record_headers = dict(headers or {})
    traceparent = traceparent or current_traceparent()
    if traceparent:
        record_headers["traceparent"] = traceparent
    return {
        "key": key if key is not None else (event.subject or event.id),
        "payload": encode_event(event).decode(),
        "headers": record_headers,
    }


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One claimed outbox row or document, as the publish step sends it."""

    id: Any
    topic: str
    key: str | None
    payload: str  # the encoded CloudEvent, sent byte for byte
    headers: Mapping[str, Any]


async def send_in_order(
    producer: EventProducer, records: Sequence[OutboxRecord], within: float
) -> tuple[list[Any], list[Any], BaseException | None]:
    """Queue every record in order, then await all acks: (acked ids, failed ids, first error).

    After a failed send the rest of the batch is not attempted (it stays in order for the
    retry); on the timeout, what was not acknowledged by then counts as failed."""
    pending: list[tuple[Any, asyncio.Future[Any]]] = []
    failed: list[Any] = []
    error: BaseException | None = None
    try:
        async with asyncio.timeout(within):
            for index, record in enumerate(records):
                try:
                    future = await producer.send_raw(
                        record.topic,
                        record.payload.encode(),
                        record.key.encode() if record.key is not None else None,
                        [(k, str(v).encode()) for k, v in record.headers.items()],
                    )
                except Exception as exc:
                    error = exc
                    failed.extend(r.id for r in records[index:])
                    break
                pending.append((record.id, future))
            results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
    except TimeoutError as exc:
        for _, future in pending:
            future.cancel()
        done = [
            rid for rid, f in pending if f.done() and not f.cancelled() and f.exception() is None
        ]
        done_set = set(done)
        return done, [r.id for r in records if r.id not in done_set], error or exc
    acked: list[Any] = []
    for (record_id, _), result in zip(pending, results, strict=True):
        if isinstance(result, BaseException):
            failed.append(record_id)
            error = error or result
        else:
            acked.append(record_id)
    return acked, failed, error


class OutboxPublisher(RelayLoop):
    """A relay over one outbox: ``RelayLoop``'s loop plus the one publish step.

    ``label`` names the outbox in the metrics; ``failure_not_recorded`` is the log event
    when recording a failure failed itself (the records are retried anyway); ``logger`` is the
    adapter module's, so its log lines keep their logger name."""

    def __init__(
        self,
        *,
        label: str,
        producer: EventProducer,
        publish_timeout: float,
        failure_not_recorded: str,
        logger: Any = log,
        **loop: Any,
    ) -> None:
        super().__init__(**loop)
        self._log = logger
        self.label = label
        self.producer = producer
        self.publish_timeout = publish_timeout
        self._failure_not_recorded = failure_not_recorded

    # what a store adapter provides

    @abstractmethod
    def _claim_batch(
        self,
    ) -> contextlib.AbstractAsyncContextManager[tuple[Any, Sequence[OutboxRecord]]]:
        """Claim the next batch: yields (claim, records), ``claim`` being what the adapter
        needs to mark them. The context ends once the acknowledged ones are marked sent
        (a PostgreSQL transaction commits there)."""

    @abstractmethod
    async def _mark_sent(self, claim: Any, ids: list[Any]) -> None:
        """Mark the acknowledged records of the claimed batch sent (inside its context)."""

    @abstractmethod
    async def _record_failure(self, claim: Any, ids: list[Any], error: BaseException) -> None:
        """After the batch's context: count an attempt and keep the error on the records
        that failed, leaving them unsent for the retry."""

    @abstractmethod
    async def _delete_sent(self) -> int:
        """Delete records sent longer ago than the retention period; returns how many."""

    @abstractmethod
    async def _unsent_stats(self) -> tuple[int, float]:
        """(unsent records, age of the oldest in seconds)."""

    # the publish step

    async def run_once(self) -> int:
        """Publish at most one batch; returns how many were published.

        Raises after a publish failure (the acknowledged part of the batch is still marked).
        """
        async with self._claim_batch() as (claim, records):
            if not records:
                return 0
            acked, failed, error = await send_in_order(self.producer, records, self.publish_timeout)
            if acked:
                await self._mark_sent(claim, acked)
        if acked:
            self.published += len(acked)
            OUTBOX_PUBLISHED.labels(self.label).inc(len(acked))
        if error is not None:
            OUTBOX_PUBLISH_FAILURES.labels(self.label).inc(len(failed))
            if failed:
                try:
                    await self._record_failure(claim, failed, error)
                except Exception:
                    # The records stay unsent (and a lease runs out on its own): retried anyway.
                    self._log.exception(self._failure_not_recorded, **self._log_fields)
            raise error
        return len(acked)

    # housekeeping

    async def cleanup(self) -> int:
        """Delete records sent longer ago than the retention period."""
        deleted = await self._delete_sent()
        if deleted:
            self._log.info(f"{self._log_prefix}.cleaned", **self._log_fields, deleted=deleted)
        return deleted

    async def refresh_metrics(self) -> tuple[int, float]:
        """Set the backlog gauges; returns (unsent records, age of the oldest in seconds)."""
        count, age = await self._unsent_stats()
        OUTBOX_BACKLOG.labels(self.label).set(count)
        OUTBOX_OLDEST_AGE.labels(self.label).set(max(0.0, age))
        return count, age
