"""Broker outage benchmark: with Kafka stopped, place 300 orders through order-service, start Kafka
again, and count the `order-placed` events that arrive: all 300, none twice, none lost.

Starts what it needs (PostgreSQL, the broker, inventory-service and order-service under uvicorn,
bench profile), so `uv run python bench/broker_outage.py` is the whole command. The broker must be
one devstack started for this run (a reused broker is never stopped).
"""

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer

from chassis.events import decode_event
from devstack import local_stack, start_service

RESULTS = Path(__file__).parent / "results" / "broker_outage.json"


async def place_orders(orders_url: str, inventory_url: str, count: int) -> set[str]:
    product_id = f"outage-{uuid.uuid4().hex[:8]}"
    limits = httpx.Limits(max_connections=20)
    async with (
        httpx.AsyncClient(base_url=orders_url, timeout=60, limits=limits) as orders,
        httpx.AsyncClient(base_url=inventory_url, timeout=30) as inventory,
    ):
        created = await inventory.post(
            "/api/inventory",
            json={"product_id": product_id, "product_name": "Sturdy Mug", "quantity": count * 2},
        )
        created.raise_for_status()
        placed: set[str] = set()

        async def place(n: int) -> None:
            body = {
                "customer_name": f"Buyer {n}",
                "customer_email": f"buyer{n}@example.com",
                "items": [
                    {
                        "product_id": product_id,
                        "product_name": "Sturdy Mug",
                        "quantity": 1,
                        "unit_price": 12.5,
                    }
                ],
            }
            reply = await orders.post("/api/orders", json=body)
            if reply.status_code != 201:
                raise RuntimeError(f"order {n} answered {reply.status_code}: {reply.text}")
            placed.add(reply.json()["id"])
            if len(placed) % 50 == 0:
                print(f"  {len(placed)}/{count} orders placed (broker down)", file=sys.stderr)

        await asyncio.gather(*(place(n) for n in range(count)))
    return placed


async def count_events(
    bootstrap: str, topic: str, placed: set[str], within: float
) -> dict[str, int]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"bench-outage-probe-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    event_ids: list[str] = []
    orders_seen: set[str] = set()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        settle_until: float | None = None
        # Read until every order's event arrived, then a little longer to catch any duplicate.
        while loop.time() < (settle_until or deadline):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    event = decode_event(record.value)
                    if event.data.get("order_id") in placed:
                        event_ids.append(event.id)
                        orders_seen.add(str(event.data["order_id"]))
            if settle_until is None and orders_seen >= placed:
                settle_until = loop.time() + 3
            print(f"  {len(set(event_ids))}/{len(placed)} events delivered", file=sys.stderr)
    finally:
        await consumer.stop()
    return {
        "delivered_unique": len(set(event_ids)),
        "duplicates": len(event_ids) - len(set(event_ids)),
        "orders_with_event": len(orders_seen),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for delivery")
    args = parser.parse_args()
    run_id = uuid.uuid4().hex[:8]
    topic = f"order-placed-outage-{run_id}"
    with local_stack(components={"postgres", "kafka"}, profile="bench") as ep:
        ep.create_topics({topic: 6, f"{topic}.dlq": 1})
        common = {"KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap, "LOG_LEVEL": "WARNING"}
        inventory_env = {
            **common,
            "DATABASE_URL": ep.postgres_url(f"bench_outage_inventory_{run_id}"),
            "CONSUMER_GROUP": f"bench-outage-{run_id}",
            "TOPIC_ORDER_PLACED": topic,
        }
        with start_service("inventory-service", env=inventory_env, profile="bench") as inv_url:
            order_env = {
                **common,
                "DATABASE_URL": ep.postgres_url(f"bench_outage_orders_{run_id}"),
                "INVENTORY_SERVICE_URL": inv_url,
                "TOPIC_ORDER_PLACED": topic,
            }
            with start_service("order-service", env=order_env, profile="bench") as orders_url:
                print("stopping the broker", file=sys.stderr)
                ep.stop_component("kafka")
                started = time.perf_counter()
                placed = asyncio.run(place_orders(orders_url, inv_url, args.orders))
                placing_s = time.perf_counter() - started
                print(
                    f"placed {len(placed)} orders in {placing_s:.1f}s; starting the broker",
                    file=sys.stderr,
                )
                ep.start_component("kafka")
                back = time.perf_counter()
                counts = asyncio.run(count_events(ep.kafka_bootstrap, topic, placed, args.wait))
                drained_s = time.perf_counter() - back
    result = {
        "placed": len(placed),
        "delivered_unique": counts["delivered_unique"],
        "duplicates": counts["duplicates"],
        "lost": len(placed) - counts["orders_with_event"],
        "placing_s": round(placing_s, 2),
        "delivered_within_s": round(drained_s, 2),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    ok = (
        result["placed"] == args.orders
        and result["delivered_unique"] == args.orders
        and result["duplicates"] == 0
        and result["lost"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
