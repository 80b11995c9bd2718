"""Order saga benchmark: 200 concurrent orders for a product with 50 units, through order-service.

Starts what it needs (PostgreSQL, the broker, inventory-service and order-service under uvicorn
on free ports, bench profile), so `uv run python bench/order_saga.py` is the whole command.
Expect exactly 50 CONFIRMED, 150 refused with 400, inventory available 0 and reserved 50.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

from devstack import local_stack, start_service

RESULTS = Path(__file__).parent / "results" / "order_saga.json"


async def run(
    orders_url: str, inventory_url: str, stock: int, attempts: int, concurrency: int
) -> dict[str, object]:
    product_id = f"saga-{uuid.uuid4().hex[:8]}"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with (
        httpx.AsyncClient(base_url=orders_url, timeout=60, limits=limits) as orders,
        httpx.AsyncClient(base_url=inventory_url, timeout=30) as inventory,
    ):
        created = await inventory.post(
            "/api/inventory",
            json={"product_id": product_id, "product_name": "Last-Units Lamp", "quantity": stock},
        )
        created.raise_for_status()
        latencies: list[float] = []
        statuses: list[str] = []
        done = 0

        async def place(n: int) -> int:
            nonlocal done
            body = {
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
            }
            started = time.perf_counter()
            reply = await orders.post("/api/orders", json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            if reply.status_code == 201:
                statuses.append(reply.json()["status"])
            done += 1
            if done % 50 == 0:
                print(f"  {done}/{attempts} orders answered", file=sys.stderr)
            return reply.status_code

        wall = time.perf_counter()
        codes = await asyncio.gather(*(place(n) for n in range(attempts)))
        wall = time.perf_counter() - wall
        final = (await inventory.get(f"/api/inventory/{product_id}")).json()
    ordered = sorted(latencies)
    return {
        "stock": stock,
        "attempts": attempts,
        "confirmed": statuses.count("CONFIRMED"),
        "rejected": codes.count(400),
        "other_status": len(codes) - codes.count(201) - codes.count(400),
        "final_available": final["available_qty"],
        "final_reserved": final["reserved_qty"],
        "orders_per_s": round(attempts / wall, 1),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stock", type=int, default=50)
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    run_id = uuid.uuid4().hex[:8]
    with local_stack(components={"postgres", "kafka"}, profile="bench") as ep:
        inventory_env = {
            "DATABASE_URL": ep.postgres_url(f"bench_saga_inventory_{run_id}"),
            "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
            "CONSUMER_GROUP": f"bench-saga-{run_id}",
            "LOG_LEVEL": "WARNING",
        }
        with start_service("inventory-service", env=inventory_env, profile="bench") as inv_url:
            order_env = {
                "DATABASE_URL": ep.postgres_url(f"bench_saga_orders_{run_id}"),
                "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
                "INVENTORY_SERVICE_URL": inv_url,
                "LOG_LEVEL": "WARNING",
            }
            with start_service("order-service", env=order_env, profile="bench") as orders_url:
                print(
                    f"order-service at {orders_url}, inventory-service at {inv_url}; "
                    f"placing {args.attempts} orders for {args.stock} units",
                    file=sys.stderr,
                )
                result = asyncio.run(
                    run(orders_url, inv_url, args.stock, args.attempts, args.concurrency)
                )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    ok = (
        result["confirmed"] == args.stock
        and result["rejected"] == args.attempts - args.stock
        and result["final_available"] == 0
        and result["final_reserved"] == args.stock
        and result["other_status"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
