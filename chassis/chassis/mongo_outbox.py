"""Transactional outbox for MongoDB (PyMongo's native async client) and its relay.

A service writes its document change and the event document in one MongoDB transaction
(``enqueue`` with the transaction's session); ``MongoOutboxRelay`` publishes committed outbox
documents to Kafka, oldest first, and marks them sent. MongoDB has no LISTEN/NOTIFY, so the
service calls ``relay.notify()`` after its commit (same process: the relay wakes at once);
documents written by other processes are found by polling every ``poll_interval`` seconds.

Claiming uses a lease, so any number of relays (replicas) share one collection without
publishing a document twice while they are alive: a relay stamps a batch with its own claim
token and ``claimed_until = now + lease`` in one conditional ``update_many`` (only documents
that are unsent and unclaimed or whose lease ran out match; each document's update is atomic),
then reads back exactly the documents carrying its token. A batch takes only the oldest unsent
document of each key, and none of a key whose oldest is leased by another relay, so one
aggregate's events are published in the order they were written whatever the number of
relays; a key with a backlog advances one event per round (the next round runs at once).
A document is marked ``sent_at`` only after the broker acknowledged it; a failed one gets its
claim released, ``attempts`` raised and ``last_error`` set, and is retried with backoff.

Stand-ins without transaction isolation: nx-27017 (the local stack's MongoDB) runs every
transaction on one SQLite connection, so two concurrent transactions fail at commit and other
connections see uncommitted writes. A service on it serializes its transactions with one
``asyncio.Lock`` and passes the same lock as ``isolation_lock``: the relay then never claims or
marks while a transaction of its process is open. MongoDB itself needs no lock.

Crash behaviour: a relay that dies after claiming leaves its batch leased; after ``lease``
seconds another relay (or the restarted one) claims and publishes it. A relay that dies between
the broker's ack and the ``sent_at`` mark causes those events to be published again after the
lease: delivery is at-least-once and consumers deduplicate on the event id (or a version).

Document shape (times are integers, so they compare and round-trip identically on MongoDB and
on stand-ins that turn a ``$set`` datetime into a string)::

    {_id: <event id>, topic, key, payload: <encoded CloudEvent text>, headers: {name: value},
     created_at: <epoch microseconds, strictly increasing per process>, sent_at: null | <ms>,
     claimed_by: null | <token>, claimed_until: <epoch ms, 0 when unclaimed>, attempts,
     last_error}
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog

from chassis.events import CloudEvent
from chassis.kafka import EventProducer

# Not chassis.outbox: that is the PostgreSQL outbox (SQLAlchemy, asyncpg), absent from a
# MongoDB service's image.
from chassis.outbox_core import OutboxPublisher, OutboxRecord, record_fields

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession
    from pymongo.asynchronous.collection import AsyncCollection

    OutboxCollection = AsyncCollection[dict[str, Any]]
else:
    AsyncClientSession = Any
    OutboxCollection = Any

log = structlog.get_logger(__name__)

__all__ = ["MongoOutboxRelay", "enqueue", "ensure_outbox_indexes"]

# Some stand-ins mis-handle the bare `{field: None}` form in counts; `$eq` means the same.
UNSENT: dict[str, Any] = {"$eq": None}

_last_created_us = 0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _next_created_at() -> int:
    """Epoch microseconds, strictly increasing within this process (keeps insertion order)."""
    global _last_created_us
    _last_created_us = max(_last_created_us + 1, time.time_ns() // 1_000)
    return _last_created_us


async def ensure_outbox_indexes(collection: OutboxCollection) -> None:
    """The indexes the relay's queries use; idempotent, call at start-up."""
    await collection.create_index([("sent_at", 1), ("created_at", 1)], name="unsent_by_age")
    # The claim's window (unsent, oldest first, reading key and lease) in index order with the
    # fields it reads: the counterpart of the PostgreSQL outbox's ix_outbox_unsent_by_key (the
    # heads of keys are picked from this window). `_id` is left out: the local stand-in
    # (nx-27017) cannot index it in a compound index.
    await collection.create_index(
        [("sent_at", 1), ("created_at", 1), ("key", 1), ("claimed_until", 1)],
        name="unsent_window",
    )
    await collection.create_index([("claimed_by", 1)], name="claimed_by")


async def enqueue(
    session: AsyncClientSession,
    collection: OutboxCollection,
    topic: str,
    event: CloudEvent,
    key: str | None = None,
    *,
    traceparent: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Add ``event`` to the outbox inside ``session``'s transaction (the caller commits)."""
    await collection.insert_one(
        {
            "_id": event.id,
            "topic": topic,
            **record_fields(event, key, traceparent, headers),
            "created_at": _next_created_at(),
            "sent_at": None,
            "claimed_by": None,
            "claimed_until": 0,
            "attempts": 0,
            "last_error": None,
        },
        session=session,
    )


# How many unsent documents one claim looks at per document it may take: keys with a backlog
# take one slot each, so a wider window keeps a batch full when a few keys are busy.
CLAIM_WINDOW_FACTOR = 4


def _record(doc: dict[str, Any]) -> OutboxRecord:
    key = doc.get("key")
    return OutboxRecord(
        doc["_id"],
        doc["topic"],
        str(key) if key is not None else None,
        str(doc["payload"]),
        doc.get("headers") or {},
    )


def heads_of_keys(window: list[dict[str, Any]], now_ms: int, limit: int) -> tuple[list[Any], bool]:
    """Of unsent documents oldest first: the ids to claim (each key's oldest, when no live lease
    holds it; documents without a key are free) and whether a claimed key has more waiting.

    A key whose oldest document is leased by another relay is skipped whole, so its next event
    is never published before that one is sent."""
    seen: set[Any] = set()
    ids: list[Any] = []
    claimed_keys: set[Any] = set()
    successors = False
    for doc in window:
        key = doc.get("key")
        if key is None:
            if len(ids) < limit and doc.get("claimed_until", 0) < now_ms:
                ids.append(doc["_id"])
            continue
        if key in seen:
            successors = successors or key in claimed_keys
            continue
        seen.add(key)
        if len(ids) < limit and doc.get("claimed_until", 0) < now_ms:
            ids.append(doc["_id"])
            claimed_keys.add(key)
    return ids, successors


class MongoOutboxRelay(OutboxPublisher):
    """Publishes committed outbox documents of ``collection`` and marks them sent.

    ``notify()`` wakes it at once (call it after committing a transaction that enqueued);
    otherwise it polls every ``poll_interval`` seconds. Publishing waits for the broker's ack.

    The publish step itself is ``OutboxPublisher.run_once`` (shared with the PostgreSQL
    outbox); this class is its MongoDB storage adapter (leases, claim tokens).
    """

    def __init__(
        self,
        collection: OutboxCollection,
        producer: EventProducer,
        *,
        batch_size: int = 100,
        poll_interval: float = 0.2,
        lease: float = 30.0,
        publish_timeout: float = 10.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        retention: timedelta = timedelta(days=7),
        cleanup_interval: float = 3600.0,
        metrics_interval: float = 5.0,
        stop_timeout: float = 10.0,
        relay_id: str | None = None,
        isolation_lock: asyncio.Lock | None = None,
    ) -> None:
        if lease <= publish_timeout:
            # A lease shorter than one publish would let a second relay take a live batch.
            raise ValueError("lease must be longer than publish_timeout")
        super().__init__(
            label=collection.name,
            producer=producer,
            publish_timeout=publish_timeout,
            failure_not_recorded="mongo_outbox.release_failed",
            logger=log,
            batch_size=batch_size,
            poll_interval=poll_interval,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            cleanup_interval=cleanup_interval,
            metrics_interval=metrics_interval,
            stop_timeout=stop_timeout,
            log_prefix="mongo_outbox",
            log_fields={"collection": collection.name},
        )
        self.collection = collection
        self.lease = lease
        self.retention = retention
        self.relay_id = relay_id or uuid.uuid4().hex[:12]
        self._isolation_lock = isolation_lock

    # lifecycle

    def notify(self) -> None:
        """Something was committed to the outbox: publish now rather than at the next poll."""
        self._wake.set()

    # one batch

    def _isolated(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._isolation_lock or contextlib.nullcontext()

    async def _claim(self) -> tuple[str, list[dict[str, Any]]]:
        now = _now_ms()
        claimable = {"sent_at": UNSENT, "claimed_until": {"$lt": now}}
        # The oldest unsent documents, claimed or not: a key's oldest unsent document is in
        # this window whenever the key is, so the first one seen per key is its head.
        window = await self.collection.find(
            {"sent_at": UNSENT},
            {"_id": 1, "key": 1, "claimed_until": 1},
            sort=[("created_at", 1), ("_id", 1)],
            limit=self.batch_size * CLAIM_WINDOW_FACTOR,
        ).to_list()
        ids, successors = heads_of_keys(window, now, self.batch_size)
        if successors:
            self._wake.set()
        if not ids:
            return "", []
        token = f"{self.relay_id}:{uuid.uuid4().hex[:12]}"
        # The filter is re-checked per document as it is written: of two relays racing for a
        # document, only the first matches it.
        await self.collection.update_many(
            {"_id": {"$in": ids}, **claimable},
            {"$set": {"claimed_by": token, "claimed_until": now + int(self.lease * 1000)}},
        )
        docs = await self.collection.find(
            {"_id": {"$in": ids}, "claimed_by": token}, sort=[("created_at", 1)]
        ).to_list()
        return token, docs

    # the storage adapter of the publish step

    @contextlib.asynccontextmanager
    async def _claim_batch(self) -> AsyncIterator[tuple[str, Sequence[OutboxRecord]]]:
        async with self._isolated():
            token, docs = await self._claim()
        # Published outside the lock: the lease keeps other relays off the batch meanwhile.
        yield token, [_record(doc) for doc in docs]

    async def _mark_sent(self, claim: str, ids: list[Any]) -> None:
        async with self._isolated():
            await self.collection.update_many(
                {"_id": {"$in": ids}, "claimed_by": claim},
                {"$set": {"sent_at": _now_ms(), "claimed_by": None, "claimed_until": 0}},
            )

    async def _record_failure(self, claim: str, ids: list[Any], error: BaseException) -> None:
        # Should this fail, the lease runs out on its own; the documents are retried after it.
        async with self._isolated():
            await self._release(claim, ids, error)

    async def _release(self, token: str, ids: list[Any], error: BaseException) -> None:
        await self.collection.update_many(
            {"_id": {"$in": ids}, "claimed_by": token},
            {
                "$set": {
                    "claimed_by": None,
                    "claimed_until": 0,
                    "last_error": f"{type(error).__name__}: {error}"[:2000],
                },
                "$inc": {"attempts": 1},
            },
        )

    # housekeeping

    async def _delete_sent(self) -> int:
        cutoff = _now_ms() - int(self.retention.total_seconds() * 1000)
        result = await self.collection.delete_many({"sent_at": {"$ne": None, "$lt": cutoff}})
        return int(result.deleted_count)

    async def _unsent_stats(self) -> tuple[int, float]:
        rows = await (
            await self.collection.aggregate(
                [
                    {"$match": {"sent_at": UNSENT}},
                    {"$group": {"_id": None, "n": {"$sum": 1}, "oldest": {"$min": "$created_at"}}},
                ]
            )
        ).to_list()
        count = int(rows[0]["n"]) if rows else 0
        oldest_us = rows[0]["oldest"] if rows else None
        age = max(0.0, time.time() - oldest_us / 1e6) if count and oldest_us else 0.0
        return count, age
