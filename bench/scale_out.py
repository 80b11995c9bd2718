"""Scale-out: two replicas of order-service and of inventory-service behind the gateway, the
200-orders-for-50-units race, and two outbox relays on the order outbox.

What a cluster does with `replicas: 2`, done here with processes: inventory-service A and B on
one inventory database, order-service A (calling inventory A) and B (calling inventory B) on one
order database, each order-service with its own outbox relay, and the gateway balancing over
`ORDER_SERVICE_URL=A,B` and `INVENTORY_SERVICE_URL=A,B`. 200 concurrent orders for a product
with 50 units go through the gateway while a watcher reads the stock through the gateway
(either inventory replica) the whole time.

Expect: exactly 50 CONFIRMED and 150 refused, available 0 and never negative, both order
replicas and both inventory replicas served requests, and each of the 50 order-placed events
on the broker exactly once (two relays, one table).

Only inventory A consumes order events: the local broker stand-in hangs a second member of
one consumer group (deploy/kubernetes/README.md, "Scale-out").

    .venv/bin/python bench/scale_out.py [--stock 50] [--attempts 200]
"""

import argparse
import asyncio
import json
import re
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer

from devstack import local_stack, start_service

RESULTS = Path(__file__).parent / "results" / "scale_out.json"
ORDER_TOPICS = ("TOPIC_ORDER_PLACED", "TOPIC_ORDER_CANCELLED", "TOPIC_ORDER_STATUS_CHANGED")


def served(metrics: str, method: str, route: str) -> int:
    """Requests a replica answered on `route`, from its RED metrics."""
    # Route templates hold braces ({product_id}): match up to the value at the line's end.
    pattern = re.compile(r"^http_requests_total\{(.*)\} ([0-9.e+]+)$", re.MULTILINE)
    total = 0.0
    for labels, value in pattern.findall(metrics):
        if f'method="{method}"' in labels and f'route="{route}"' in labels:
            total += float(value)
    return int(total)


async def race(gateway: str, stock: int, attempts: int) -> dict[str, object]:
    product_id = f"scale-{uuid.uuid4().hex[:8]}"
    limits = httpx.Limits(max_connections=attempts, max_keepalive_connections=attempts)
    async with httpx.AsyncClient(base_url=gateway, timeout=60, limits=limits) as client:
        created = await client.post(
            "/api/inventory",
            json={"product_id": product_id, "product_name": "Last-Units Lamp", "quantity": stock},
        )
        created.raise_for_status()
        lowest = stock
        reads = 0
        done = asyncio.Event()

        async def watch() -> None:
            nonlocal lowest, reads
            async with httpx.AsyncClient(base_url=gateway, timeout=30) as watcher:
                while not done.is_set():
                    item = (await watcher.get(f"/api/inventory/{product_id}")).json()
                    lowest = min(lowest, int(item["available_qty"]))
                    reads += 1
                    await asyncio.sleep(0.02)

        async def place(n: int) -> tuple[int, str | None]:
            reply = await client.post(
                "/api/orders",
                json={
                    "customer_name": f"Buyer {n}",
                    "customer_email": f"buyer{n}@example.com",
                    "items": [
                        {
                            "product_id": product_id,
                            "product_name": "Last-Units Lamp",
                            "quantity": 1,
                            "unit_price": 49.99,
                        }
                    ],
                },
            )
            return reply.status_code, (reply.json().get("id") if reply.status_code == 201 else None)

        watching = asyncio.create_task(watch())
        started = time.perf_counter()
        results = await asyncio.gather(*(place(n) for n in range(attempts)))
        wall = time.perf_counter() - started
        done.set()
        await watching
        final = (await client.get(f"/api/inventory/{product_id}")).json()
        statuses = []
        for _, order_id in results:
            if order_id:
                statuses.append((await client.get(f"/api/orders/{order_id}")).json()["status"])
    codes = [code for code, _ in results]
    return {
        "confirmed": statuses.count("CONFIRMED"),
        "rejected": codes.count(400),
        "other_status": len(codes) - codes.count(201) - codes.count(400),
        "final_available": final["available_qty"],
        "final_reserved": final["reserved_qty"],
        "lowest_available_seen": min(lowest, int(final["available_qty"])),
        "stock_reads_during_race": reads,
        "orders_per_s": round(attempts / wall, 1),
        "order_ids": [order_id for _, order_id in results if order_id],
    }


async def published(bootstrap: str, topic: str, expected: int, within: float) -> Counter[str]:
    """How often each order id's order-placed event is on the topic."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: Counter[str] = Counter()
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    seen[json.loads(record.value)["subject"]] += 1
            if sum(seen.values()) >= expected and not batch:
                break
    finally:
        await consumer.stop()
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stock", type=int, default=50)
    parser.add_argument("--attempts", type=int, default=200)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    topics = {
        name: f"{name.lower().removeprefix('topic_').replace('_', '-')}-scale-{run}"
        for name in ORDER_TOPICS
    }
    with (
        local_stack(components={"postgres", "kafka", "redis"}, profile="bench") as ep,
        ExitStack() as stack,
    ):
        ep.create_topics({t: 6 for t in topics.values()})
        common = {"KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap, "LOG_LEVEL": "WARNING", **topics}
        inventory_db = ep.postgres_url(f"bench_scale_inventory_{run}")
        order_db = ep.postgres_url(f"bench_scale_order_{run}")

        def start(name: str, env: dict[str, str]) -> str:
            print(f"starting {name}", file=sys.stderr, flush=True)
            return stack.enter_context(start_service(name, env={**common, **env}, profile="bench"))

        inventory = [
            start(
                "inventory-service",
                {
                    "DATABASE_URL": inventory_db,
                    "CONSUMER_GROUP": f"scale-{run}",
                    # One member per group on the stand-in broker (see the docstring).
                    "RUN_EVENT_CONSUMER": "true" if n == 0 else "false",
                },
            )
            for n in range(2)
        ]
        orders = [
            start(
                "order-service", {"DATABASE_URL": order_db, "INVENTORY_SERVICE_URL": inventory[n]}
            )
            for n in range(2)
        ]
        gateway = start(
            "api-gateway",
            {
                "RATE_LIMIT_ENABLED": "false",
                "REDIS_URL": ep.redis_url,
                # 200 orders at once on 2 cores take longer than the default 10 s per call.
                "UPSTREAM_TIMEOUT_SECONDS": "120",
                "ORDER_SERVICE_URL": ",".join(orders),
                "INVENTORY_SERVICE_URL": ",".join(inventory),
            },
        )
        print(
            f"placing {args.attempts} orders for {args.stock} units through {gateway}",
            file=sys.stderr,
            flush=True,
        )
        result = asyncio.run(race(gateway, args.stock, args.attempts))
        order_ids = result.pop("order_ids")
        assert isinstance(order_ids, list)
        with httpx.Client(timeout=10) as client:
            result["orders_served_per_replica"] = [
                served(client.get(f"{url}/metrics").text, "POST", "/api/orders") for url in orders
            ]
            result["stock_reads_served_per_inventory_replica"] = [
                served(client.get(f"{url}/metrics").text, "GET", "/api/inventory/{product_id}")
                for url in inventory
            ]
        seen = asyncio.run(
            published(ep.kafka_bootstrap, topics["TOPIC_ORDER_PLACED"], len(order_ids), within=30)
        )
    result["order_placed_events"] = sum(seen.values())
    result["order_placed_duplicates"] = sum(1 for n in seen.values() if n > 1)
    result["order_placed_missing"] = sum(1 for i in order_ids if i not in seen)
    result |= {
        "stock": args.stock,
        "attempts": args.attempts,
        "order_replicas": 2,
        "inventory_replicas": 2,
        "relays_on_order_outbox": 2,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("RESULT " + " ".join(f"{k}={v}".replace(" ", "") for k, v in result.items()))
    ok = (
        result["confirmed"] == args.stock
        and result["rejected"] == args.attempts - args.stock
        and result["other_status"] == 0
        and result["final_available"] == 0
        and result["lowest_available_seen"] >= 0
        and all(n > 0 for n in result["orders_served_per_replica"])  # type: ignore[attr-defined]
        and all(n > 0 for n in result["stock_reads_served_per_inventory_replica"])  # type: ignore[attr-defined]
        and result["order_placed_duplicates"] == 0
        and result["order_placed_missing"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
