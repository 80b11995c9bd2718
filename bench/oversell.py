"""Oversell benchmark: 200 concurrent reservations of 1 unit against 50 in stock.

Starts what it needs (PostgreSQL, the broker, and inventory-service under uvicorn on a free
port, bench profile), so `uv run python bench/oversell.py` is the whole command.
Expect exactly 50 successes, 150 refusals, final available 0, never negative.
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

RESULTS = Path(__file__).parent / "results" / "oversell.json"


async def run(base_url: str, stock: int, attempts: int, concurrency: int) -> dict[str, object]:
    product_id = f"oversell-{uuid.uuid4().hex[:8]}"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        created = await client.post(
            "/api/inventory",
            json={"product_id": product_id, "product_name": "Last-Units Lamp", "quantity": stock},
        )
        created.raise_for_status()
        latencies: list[float] = []
        lowest_available = stock
        done = 0

        async def reserve() -> int:
            nonlocal done, lowest_available
            body = {
                "reservation_id": str(uuid.uuid4()),
                "items": [{"product_id": product_id, "quantity": 1}],
            }
            started = time.perf_counter()
            reply = await client.post("/api/inventory/reservations", json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            done += 1
            if done % 50 == 0:
                print(f"  {done}/{attempts} reservations answered", file=sys.stderr)
            return reply.status_code

        async def watch_available() -> None:
            nonlocal lowest_available
            while done < attempts:
                item = (await client.get(f"/api/inventory/{product_id}")).json()
                lowest_available = min(lowest_available, item["available_qty"])
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch_available())
        wall = time.perf_counter()
        codes = await asyncio.gather(*(reserve() for _ in range(attempts)))
        wall = time.perf_counter() - wall
        await watcher
        final = (await client.get(f"/api/inventory/{product_id}")).json()
    ordered = sorted(latencies)
    return {
        "stock": stock,
        "attempts": attempts,
        "succeeded": codes.count(201),
        "failed": codes.count(400),
        "other_status": len(codes) - codes.count(201) - codes.count(400),
        "final_available": final["available_qty"],
        "final_reserved": final["reserved_qty"],
        "min_available_seen": min(lowest_available, final["available_qty"]),
        "reservations_per_s": round(attempts / wall, 1),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stock", type=int, default=50)
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    with local_stack(components={"postgres", "kafka"}, profile="bench") as ep:
        env = {
            "DATABASE_URL": ep.postgres_url(f"bench_oversell_{uuid.uuid4().hex[:8]}"),
            "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
            "CONSUMER_GROUP": f"bench-oversell-{uuid.uuid4().hex[:6]}",
            "LOG_LEVEL": "WARNING",
        }
        with start_service("inventory-service", env=env, profile="bench") as base_url:
            print(
                f"inventory-service at {base_url}; firing {args.attempts} reservations",
                file=sys.stderr,
            )
            result = asyncio.run(run(base_url, args.stock, args.attempts, args.concurrency))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    ok = (
        result["succeeded"] == args.stock
        and result["final_available"] == 0
        and result["min_available_seen"] >= 0
        and result["other_status"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
