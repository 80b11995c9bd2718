"""Transactional outbox for PostgreSQL (SQLAlchemy 2 async + asyncpg) and its relay.

A service writes its state change and the event row in one transaction (``enqueue``); the
``OutboxRelay`` publishes committed rows to Kafka and marks them sent. ``enqueue`` also
issues ``pg_notify`` in that transaction: PostgreSQL delivers it at commit, so the relay
wakes exactly when the row becomes visible and polling is only a fallback.
"""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import Select

from chassis.events import CloudEvent
from chassis.kafka import EventProducer

# The metrics and record_fields live in outbox_core (shared with the MongoDB outbox); they are
# re-exported here, where they were first defined.
from chassis.outbox_core import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISH_FAILURES,
    OUTBOX_PUBLISHED,
    OutboxPublisher,
    OutboxRecord,
    record_fields,
)

log = structlog.get_logger(__name__)

__all__ = [
    "OUTBOX_BACKLOG",
    "OUTBOX_OLDEST_AGE",
    "OUTBOX_PUBLISHED",
    "OUTBOX_PUBLISH_FAILURES",
    "OutboxRelay",
    "enqueue",
    "enqueue_on_driver",
    "outbox_channel",
    "outbox_table",
    "record_fields",
]


def outbox_table(metadata: MetaData, name: str = "outbox") -> Table:
    """The outbox table; each service adds it to its own metadata and Alembic migration."""
    return Table(
        name,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=True),
        # The encoded CloudEvent as text, so the published bytes are exactly what was written.
        Column("payload", Text, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        # clock_timestamp keeps the insertion order of several events in one transaction.
        Column(
            "created_at",
            DateTime(timezone=True),
            nullable=False,
            server_default=func.clock_timestamp(),
        ),
        Column("sent_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
        Index(f"ix_{name}_unsent", "created_at", postgresql_where=text("sent_at IS NULL")),
        # claim_query's "is there an older unsent row of this key" (and the successor check):
        # one index probe per candidate instead of a scan of the key's rows.
        Index(
            f"ix_{name}_unsent_by_key",
            "key",
            "created_at",
            "id",
            postgresql_where=text("sent_at IS NULL"),
        ),
        Index(f"ix_{name}_sent_at", "sent_at", postgresql_where=text("sent_at IS NOT NULL")),
    )


def outbox_channel(table: Table) -> str:
    """The NOTIFY channel the relay listens on for ``table``."""
    return f"{table.name}_pending"


def _row_id(event: CloudEvent) -> uuid.UUID:
    try:
        return uuid.UUID(event.id)
    except ValueError:
        return uuid.uuid4()


async def enqueue(
    session: AsyncSession | AsyncConnection,
    table: Table,
    topic: str,
    event: CloudEvent,
    key: str | None = None,
    *,
    traceparent: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Add ``event`` to the outbox inside the caller's transaction (which the caller commits)."""
    await session.execute(
        insert(table).values(
            id=_row_id(event), topic=topic, **record_fields(event, key, traceparent, headers)
        )
    )
    await session.execute(select(func.pg_notify(outbox_channel(table), "")))


def _driver_enqueue_sql(table: Table) -> str:
    # The row and its NOTIFY in one statement: one round trip.
    return (
        f"WITH added AS (INSERT INTO {table.name} (id, topic, key, payload, headers) "
        "VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id) "
        "SELECT pg_notify($6, '') FROM added"
    )


async def enqueue_on_driver(
    connection: Any,
    table: Table,
    topic: str,
    event: CloudEvent,
    key: str | None = None,
    *,
    traceparent: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """``enqueue`` on a pooled asyncpg connection (chassis.postgres.driver_connection), inside
    the transaction the caller opened on it: the same row, the same wake-up at commit."""
    fields = record_fields(event, key, traceparent, headers)
    await connection.execute(
        _driver_enqueue_sql(table),
        _row_id(event),
        topic,
        fields["key"],
        fields["payload"],
        json.dumps(fields["headers"]),
        outbox_channel(table),
    )


def claim_query(table: Table, batch_size: int) -> Select[Any]:
    """The oldest unsent rows, at most one per key (the key's oldest), locked for this relay.

    A row whose key has an older unsent row is left alone even when that row is locked by
    another relay (SKIP LOCKED would otherwise step past it). ``(created_at, id)`` orders rows
    written in the same instant, so two relays agree on which one is first.
    """
    t = table
    older = table.alias("older")
    newer = table.alias("newer")
    unsent_same_key = (older.c.key == t.c.key) & older.c.sent_at.is_(None)
    has_predecessor = (
        select(older.c.id)
        .where(
            unsent_same_key, tuple_(older.c.created_at, older.c.id) < tuple_(t.c.created_at, t.c.id)
        )
        .exists()
    )
    has_successor = (
        select(newer.c.id)
        .where(
            newer.c.key == t.c.key,
            newer.c.sent_at.is_(None),
            tuple_(newer.c.created_at, newer.c.id) > tuple_(t.c.created_at, t.c.id),
        )
        .exists()
        .label("has_successor")
    )
    return (
        select(t.c.id, t.c.topic, t.c.key, t.c.payload, t.c.headers, has_successor)
        .where(t.c.sent_at.is_(None), ~has_predecessor)
        .order_by(t.c.created_at, t.c.id)
        .limit(batch_size)
        .with_for_update(of=t, skip_locked=True)
    )


def _headers(row: Any) -> Mapping[str, Any]:
    # asyncpg hands JSONB over as text unless a codec is set (the relay's connection has none;
    # SQLAlchemy's result processor used to parse it).
    headers = row["headers"]
    if isinstance(headers, str):
        headers = json.loads(headers)
    return headers or {}


class OutboxRelay(OutboxPublisher):
    """Publishes committed outbox rows, oldest first, and marks them sent.

    Each batch is claimed with ``FOR UPDATE SKIP LOCKED`` inside the transaction that later
    marks it sent, so any number of relays over one table never publish a row twice. A row is
    marked only after the broker acknowledged it; on failure it stays unsent and is retried
    with backoff (a crash between ack and commit republishes it: consumers dedup on event id).

    Per-key order holds across relays: a batch takes only the oldest unsent row of each key,
    so a key's next event is claimable only once its predecessor is marked sent. (Without
    that, relay A could hold a key's first event while relay B skipped past the lock and
    published the second.) A key with a backlog advances one event per round; the relay runs
    the next round at once when it claimed a row with a successor waiting. Rows without a key
    carry no order and are claimed freely.

    The publish step itself is ``OutboxPublisher.run_once`` (shared with the MongoDB outbox);
    this class is its PostgreSQL storage adapter plus the LISTEN connection.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        producer: EventProducer,
        *,
        batch_size: int = 200,
        poll_interval: float = 2.0,
        retention: timedelta = timedelta(days=7),
        cleanup_interval: float = 3600.0,
        metrics_interval: float = 5.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        publish_timeout: float = 15.0,
        stop_timeout: float = 10.0,
    ) -> None:
        super().__init__(
            label=table.name,
            producer=producer,
            publish_timeout=publish_timeout,
            failure_not_recorded="outbox.record_failure_failed",
            logger=log,
            batch_size=batch_size,
            poll_interval=poll_interval,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            cleanup_interval=cleanup_interval,
            metrics_interval=metrics_interval,
            stop_timeout=stop_timeout,
            log_prefix="outbox",
            log_fields={"table": table.name},
        )
        self.engine = engine
        self.table = table
        self.retention = retention
        self.channel = outbox_channel(table)
        self._claim = claim_query(table, batch_size)
        # The same claim and sent mark as SQL text for the driver connection: compiled once,
        # prepared once per pooled connection by asyncpg (the claim and the mark are the
        # relay's every-round statements; see _claim_batch).
        self._claim_sql = str(
            self._claim.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        )
        self._mark_sql = f"UPDATE {table.name} SET sent_at = now() WHERE id = ANY($1::uuid[])"
        self._listener: asyncpg.Connection | None = None
        self._listener_warned = False

    # the storage adapter of the publish step

    @asynccontextmanager
    async def _claim_batch(self) -> AsyncIterator[tuple[Any, Sequence[OutboxRecord]]]:
        # One transaction from the claim (row locks) to the sent mark, on the relay's own
        # asyncpg connection (the one that LISTENs): no session, no statement compilation, no
        # pool checkout, and the claim and the mark prepared once. Through a pooled session
        # this was ~10 % of order-service's CPU under load (SQLAlchemy's greenlet bridge),
        # and it took a pool slot from the requests every round.
        # The claim (SKIP LOCKED) and the mark (rows it holds) never wait on a lock: only a dead
        # connection runs into their timeout, and is then replaced.
        try:
            await self._ensure_listener()
        except Exception as exc:
            self._warn_no_listener(exc)
        conn = self._listener
        if conn is None:
            # No connection of its own (the server refused one, e.g. at max_connections): this
            # round runs on a pooled connection, so the outbox never stalls for want of it.
            async with self.engine.connect() as pooled:
                raw = await pooled.get_raw_connection()
                async with self._claimed(raw.driver_connection) as claim:
                    yield claim
            return
        try:
            async with self._claimed(conn) as claim:
                yield claim
        except Exception:
            # Whatever failed (a lost or half-open connection, a server restart), the next
            # round starts on a new connection; the claimed rows are unlocked and stay unsent.
            await self._close_listener()
            raise

    @asynccontextmanager
    async def _claimed(
        self, conn: asyncpg.Connection
    ) -> AsyncIterator[tuple[Any, Sequence[OutboxRecord]]]:
        async with conn.transaction():
            rows = await conn.fetch(self._claim_sql, timeout=self.publish_timeout)
            if any(row["has_successor"] for row in rows):
                self._wake.set()
            yield (
                conn,
                [
                    OutboxRecord(row["id"], row["topic"], row["key"], row["payload"], _headers(row))
                    for row in rows
                ],
            )

    async def _mark_sent(self, claim: Any, ids: list[uuid.UUID]) -> None:
        await claim.execute(self._mark_sql, ids, timeout=self.publish_timeout)

    async def _record_failure(self, claim: Any, ids: list[uuid.UUID], error: BaseException) -> None:
        # The claim's transaction has ended (its locks are gone): a transaction of its own.
        t = self.table
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t)
                .where(t.c.id.in_(ids), t.c.sent_at.is_(None))
                .values(
                    attempts=t.c.attempts + 1,
                    last_error=f"{type(error).__name__}: {error}"[:2000],
                )
            )

    async def _delete_sent(self) -> int:
        t = self.table
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(t).where(t.c.sent_at.is_not(None), t.c.sent_at < func.now() - self.retention)
            )
        return result.rowcount or 0

    async def _unsent_stats(self) -> tuple[int, float]:
        t = self.table
        async with self.engine.connect() as conn:
            count, age = (
                await conn.execute(
                    select(
                        func.count(),
                        func.coalesce(
                            func.extract("epoch", func.now() - func.min(t.c.created_at)), 0
                        ),
                    ).where(t.c.sent_at.is_(None))
                )
            ).one()
        return int(count), float(age)

    # housekeeping hooks of the loop

    async def _on_metrics_tick(self) -> None:
        await self._check_listener()

    async def _after_stop(self) -> None:
        await self._close_listener()

    # NOTIFY listener

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    def _on_listener_lost(self, *_: Any) -> None:
        # The relay's connection (LISTEN, claims, marks) is gone; the next round opens another.
        log.warning("outbox.listener.lost", table=self.table.name)
        self._listener = None
        self._wake.set()

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = None
        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        # command_timeout: BEGIN, COMMIT and ROLLBACK of a round are bounded too, so a
        # half-open connection fails its round (and is replaced) instead of hanging the relay.
        conn = await asyncpg.connect(dsn, timeout=5, command_timeout=self.publish_timeout)
        try:
            await conn.add_listener(self.channel, self._on_notify)
        except BaseException:
            await conn.close()
            raise
        conn.add_termination_listener(self._on_listener_lost)
        self._listener = conn
        # Rows committed while nobody listened would otherwise wait for the poll interval.
        self._wake.set()
        log.info("outbox.listener.ready", table=self.table.name, channel=self.channel)

    async def _check_listener(self) -> None:
        conn = self._listener
        if conn is None or conn.is_closed():
            return
        try:
            await conn.fetchval("SELECT 1", timeout=5)
        except Exception:
            log.warning("outbox.listener.unhealthy", table=self.table.name)
            await self._close_listener()

    async def _close_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None and not conn.is_closed():
            conn.remove_termination_listener(self._on_listener_lost)
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:
                conn.terminate()

    async def _before_wait(self) -> None:
        # Without a listener the relay still works (on pooled connections, _claim_batch), on
        # the poll interval; say so once.
        try:
            await self._ensure_listener()
            self._listener_warned = False
        except Exception as exc:
            self._warn_no_listener(exc)

    def _warn_no_listener(self, exc: BaseException) -> None:
        if not self._listener_warned:
            log.warning("outbox.listener.unavailable", table=self.table.name, error=str(exc))
            self._listener_warned = True
