"""Outbox latency: commit -> record on the broker, with two relays over one outbox table.

Writers commit 1,000 events, each in its own transaction, at a steady pace; two
``OutboxRelay``s (one producer each) publish them; a consumer reads the topic and records
when each event arrives. Reports p50/p99 latency, duplicates (ids seen twice) and missing.

    .venv/bin/python bench/outbox_latency.py [--events 1000] [--rate 200] [--writers 4]

Starts PostgreSQL and the Kafka stand-in through devstack's ``local_stack`` (bench profile).
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections import Counter
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from chassis.events import decode_event, new_event
from chassis.kafka import EventProducer
from chassis.outbox import OutboxRelay, enqueue, outbox_table

RESULTS = Path(__file__).parent / "results" / "outbox_latency.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
    return ordered[index]


async def writer(
    engine: AsyncEngine, table, topic: str, count: int, interval: float, committed: dict
) -> None:
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    for i in range(count):
        event = new_event(topic, "bench", f"order-{uuid.uuid4().hex[:6]}", {"n": i})
        async with AsyncSession(engine) as session, session.begin():
            await enqueue(session, table, topic, event)
        committed[event.id] = time.monotonic()
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - loop.time()))


async def reader(bootstrap: str, topic: str, received: dict, seen: Counter, ready) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    ready.set()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    event_id = decode_event(record.value).id
                    seen[event_id] += 1
                    received.setdefault(event_id, now)
    finally:
        await consumer.stop()


async def run(database_url: str, bootstrap: str, topic: str, args: argparse.Namespace) -> dict:
    engine = create_async_engine(database_url, pool_size=args.writers + 6)
    metadata = MetaData()
    table = outbox_table(metadata)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
        await conn.run_sync(metadata.create_all)

    producers = [EventProducer(bootstrap) for _ in range(2)]
    relays = [OutboxRelay(engine, table, p) for p in producers]
    for producer in producers:
        await producer.start()
    for relay in relays:
        await relay.start()

    committed: dict[str, float] = {}
    received: dict[str, float] = {}
    seen: Counter[str] = Counter()
    ready = asyncio.Event()
    reading = asyncio.create_task(reader(bootstrap, topic, received, seen, ready))
    await ready.wait()
    await asyncio.sleep(1.0)  # relays LISTENing, consumer assigned

    per_writer = args.events // args.writers
    interval = args.writers / args.rate
    started = time.monotonic()
    writing = asyncio.gather(
        *(
            writer(
                engine,
                table,
                topic,
                per_writer + (1 if w < args.events % args.writers else 0),
                interval,
                committed,
            )
            for w in range(args.writers)
        )
    )
    while not writing.done():
        await asyncio.sleep(1.0)
        print(
            f"progress t={time.monotonic() - started:.1f}s committed={len(committed)} "
            f"received={len(received)}",
            flush=True,
        )
    await writing
    for _ in range(300):  # up to 30 s for the tail
        if len(received) >= len(committed):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # give late duplicates a chance to show up

    reading.cancel()
    await asyncio.gather(reading, return_exceptions=True)
    for relay in relays:
        await relay.stop()
    for producer in producers:
        await producer.stop()
    await engine.dispose()

    latencies = [max(0.0, (received[i] - committed[i]) * 1000) for i in committed if i in received]
    return {
        "events": len(committed),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 2) if latencies else None,
        "duplicates": sum(1 for n in seen.values() if n > 1),
        "missing": sum(1 for i in committed if i not in received),
        "max_ms": round(max(latencies), 2) if latencies else None,
        "relays": len(relays),
        "published_per_relay": [relay.published for relay in relays],
        "writers": args.writers,
        "target_rate_per_s": args.rate,
        "duration_s": round(time.monotonic() - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="commits per second, total")
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()

    try:
        from devstack import local_stack
    except ImportError as exc:
        raise SystemExit(
            "devstack.local_stack is not available: install the workspace (uv sync) or start "
            "PostgreSQL on 127.0.0.1:5432 and noida-db on 127.0.0.1:29092"
        ) from exc

    topic = f"bench-outbox-{uuid.uuid4().hex[:8]}"
    with local_stack(components={"postgres", "kafka"}, profile="bench") as ep:
        database_url = ep.postgres_url("bench_outbox_latency")
        ep.create_topics({topic: 1})
        result = asyncio.run(run(database_url, ep.kafka_bootstrap, topic, args))

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"RESULT events={result['events']} p50_ms={result['p50_ms']} p99_ms={result['p99_ms']} "
        f"duplicates={result['duplicates']} missing={result['missing']}",
        flush=True,
    )


if __name__ == "__main__":
    main()
