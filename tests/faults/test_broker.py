"""The broker stopped mid-burst, with the outbox relay's producer in flight, then started again:
every placed order's `order-placed` reaches the topic once, without restarting any service.

(`bench/broker_outage.py` stops the broker before the first order, so its producer is never
caught mid-flight; this case is the one that found the relay stuck on
OutOfOrderSequenceNumber until order-service was restarted by hand.)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from chassis.events import CloudEvent
from devstack.asyncbridge import run_sync
from devstack.local_stack import Endpoints

from .conftest import ServiceProcess, fleet_topics, postgres_url, read_topic
from .recording import record_case

ORDERS = 100
BROKER_DOWN_AFTER_S = 1.0
BROKER_DOWN_FOR_S = 3.0
DELIVERY_WITHIN_S = 90.0


async def place_burst(orders_url: str, product_id: str, marker: str) -> list[str]:
    placed: list[str] = []
    limits = httpx.Limits(max_connections=4)
    async with httpx.AsyncClient(base_url=orders_url, timeout=60, limits=limits) as client:

        async def place(n: int) -> None:
            body = {
                "customer_name": f"Burst {n}",
                "customer_email": f"{marker}-{n}@example.com",
                "items": [
                    {
                        "product_id": product_id,
                        "product_name": "Sturdy Mug",
                        "quantity": 1,
                        "unit_price": 12.5,
                    }
                ],
            }
            reply = await client.post("/api/orders", json=body)
            assert reply.status_code == 201, f"order {n}: {reply.status_code} {reply.text}"
            placed.append(reply.json()["id"])

        # A steady stream over a few seconds (4 at a time), so the broker goes away mid-burst.
        gate = asyncio.Semaphore(4)

        async def paced(n: int) -> None:
            async with gate:
                await place(n)
                await asyncio.sleep(0.1)

        await asyncio.gather(*(paced(n) for n in range(ORDERS)))
    return placed


def test_broker_stopped_mid_burst_every_order_placed_event_arrives_once(
    fault_stack: Endpoints, services: Callable[..., ServiceProcess]
) -> None:
    ep = fault_stack
    topics = fleet_topics(ep, "broker")
    run = uuid.uuid4().hex[:8]
    common = {**topics, "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap}
    inventory = services(
        "inventory-service",
        {
            **common,
            "DATABASE_URL": postgres_url(ep, "faults_broker_inventory"),
            "CONSUMER_GROUP": f"inventory-broker-{run}",
        },
    )
    orders = services(
        "order-service",
        {
            **common,
            "DATABASE_URL": postgres_url(ep, "faults_broker_orders"),
            "INVENTORY_SERVICE_URL": inventory.url,
        },
    )
    product_id = f"broker-{run}"
    created = httpx.post(
        f"{inventory.url}/api/inventory",
        timeout=10,
        json={"product_id": product_id, "product_name": "Sturdy Mug", "quantity": ORDERS * 2},
    )
    assert created.status_code == 201, created.text

    broker = ep.component("kafka")
    timeline: dict[str, float] = {}

    def outage() -> None:
        time.sleep(BROKER_DOWN_AFTER_S)
        timeline["stopped"] = time.monotonic()
        broker.stop()
        time.sleep(BROKER_DOWN_FOR_S)
        broker.start()
        timeline["restarted"] = time.monotonic()

    chaos = threading.Thread(target=outage, daemon=True)
    chaos.start()
    placed = run_sync(place_burst(orders.url, product_id, f"broker-{run}"))
    chaos.join(timeout=60)
    assert "restarted" in timeline, "the broker did not come back"

    wanted = set(placed)

    def all_there(events: list[CloudEvent]) -> bool:
        return wanted <= {str(e.data.get("order_id")) for e in events}

    marks: dict[str, float] = {}
    events = run_sync(
        read_topic(
            ep.kafka_bootstrap,
            topics["TOPIC_ORDER_PLACED"],
            until=all_there,
            within=DELIVERY_WITHIN_S,
            marks=marks,
        )
    )
    per_order = Counter(str(e.data.get("order_id")) for e in events)
    per_event = Counter(e.id for e in events)
    delivered = len(wanted & set(per_order))
    duplicates = sum(n - 1 for n in per_event.values())
    lost = len(wanted - set(per_order))
    record_case(
        "broker_stopped_mid_burst",
        placed=len(placed),
        delivered=delivered,
        duplicates=duplicates,
        lost=lost,
        recovery_s=(marks["complete"] - timeline["restarted"]) if not lost else None,
        broker_down_s=round(timeline["restarted"] - timeline["stopped"], 2),
    )
    assert len(placed) == ORDERS
    assert lost == 0, (
        f"{lost} of {ORDERS} order-placed events never reached the topic "
        f"without a manual restart; order-service log:\n{orders.log_tail()}"
    )
    assert duplicates == 0, f"{duplicates} records published twice"
    # Nothing was restarted by hand: the same processes published everything.
    assert orders.pid is not None
    assert inventory.pid is not None


async def produce_until_stopped(
    bootstrap: str, topic: str, stop: threading.Event, writers: int = 8
) -> set[str]:
    """`writers` idempotent producers writing as fast as they can; the values acknowledged."""
    acked: set[str] = set()

    async def writer(w: int) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=3000,
        )
        await producer.start()
        try:
            n = 0
            while not stop.is_set():
                value = f"{w}-{n}"
                try:
                    async with asyncio.timeout(2):
                        await (await producer.send(topic, value.encode(), key=str(w).encode()))
                except Exception:
                    return  # the broker went away: what was acknowledged is what counts
                acked.add(value)
                n += 1
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await producer.stop()

    await asyncio.gather(*(writer(w) for w in range(writers)))
    return acked


async def values_on(bootstrap: str, topic: str, partitions: int) -> set[str]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        values: set[str] = set()

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in tps])

        while await behind():
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                values.update(r.value.decode() for r in records)
        return values
    finally:
        await consumer.stop()


def test_stopping_and_restarting_the_local_broker_keeps_every_acknowledged_record(
    fault_stack: Endpoints,
) -> None:
    """devstack's stop of the stand-in (what `make stop`, `devstack stop` and every benchmark
    use) under a write load: nothing the broker acknowledged may be missing after a restart."""
    ep = fault_stack
    topic = f"durability-{uuid.uuid4().hex[:8]}"
    ep.create_topics({topic: 3})
    stop = threading.Event()
    acked: set[str] = set()

    def load() -> None:
        acked.update(run_sync(produce_until_stopped(ep.kafka_bootstrap, topic, stop)))

    writers = threading.Thread(target=load, daemon=True)
    writers.start()
    time.sleep(1.5)
    broker = ep.component("kafka")
    stopped_at = time.monotonic()
    broker.stop()
    stop.set()
    writers.join(timeout=30)
    broker.start()
    back = time.monotonic()
    stored = run_sync(values_on(ep.kafka_bootstrap, topic, 3))
    missing = acked - stored
    record_case(
        "broker_graceful_stop_durability",
        placed=len(acked),
        delivered=len(acked & stored),
        duplicates=0,
        lost=len(missing),
        recovery_s=back - stopped_at,
    )
    assert len(acked) > 100, "the writers never got going"
    assert not missing, f"{len(missing)} acknowledged records lost by stop/start"
