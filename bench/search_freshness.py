"""Search freshness benchmark: how long after product-service confirms an update does
search-service find the new text?

Starts what it needs (the broker, Elasticsearch and MongoDB stand-ins, then product-service and
search-service under uvicorn on free ports, bench profile), so
`uv run python bench/search_freshness.py` is the whole command. Creates the products, waits until
all are searchable, then renames each one (a few at a time) and polls `/api/search` for the new
name from the moment the PUT answered 200. Target: p99 < 1.5 s.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from elasticsearch import AsyncElasticsearch
from pymongo import AsyncMongoClient

from devstack import local_stack, start_service

RESULTS = Path(__file__).parent / "results" / "search_freshness.json"
TARGET_P99_MS = 1500.0
POLL_SECONDS = 0.01
GIVE_UP_SECONDS = 30.0


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


def word() -> str:
    return f"fresh{uuid.uuid4().hex[:10]}"


async def visible(search: httpx.AsyncClient, text: str, product_id: str) -> bool:
    reply = await search.get("/api/search", params={"q": text, "size": 5})
    return reply.status_code == 200 and any(hit["id"] == product_id for hit in reply.json()["hits"])


async def wait_visible(search: httpx.AsyncClient, text: str, product_id: str) -> float | None:
    """Seconds until `text` finds `product_id`, or None if it never did in time."""
    started = time.perf_counter()
    while time.perf_counter() - started < GIVE_UP_SECONDS:
        if await visible(search, text, product_id):
            return time.perf_counter() - started
        await asyncio.sleep(POLL_SECONDS)
    return None


async def run(products_url: str, search_url: str, updates: int, concurrency: int) -> dict[str, Any]:
    async with (
        httpx.AsyncClient(base_url=products_url, timeout=30) as products,
        httpx.AsyncClient(base_url=search_url, timeout=30) as search,
    ):
        ids: list[str] = []
        for n in range(updates):
            reply = await products.post(
                "/api/products",
                json={
                    "name": f"Bench Lamp {word()}",
                    "description": "A lamp for the freshness benchmark",
                    "price": 10 + n % 50,
                    "category": "Bench",
                    "tags": ["bench"],
                    "stock_quantity": 5,
                },
            )
            reply.raise_for_status()
            ids.append(reply.json()["id"])
        print(f"  created {len(ids)} products; waiting until search has them all", file=sys.stderr)
        deadline = time.perf_counter() + 60
        while True:
            reply = await search.get("/api/search/filter", params={"category": "Bench"})
            if reply.status_code == 200 and reply.json()["total"] >= len(ids):
                break
            if time.perf_counter() > deadline:
                raise SystemExit("search never caught up with the created products")
            await asyncio.sleep(0.2)

        latencies: list[float] = []
        missing = 0
        done = 0
        gate = asyncio.Semaphore(concurrency)

        async def update(product_id: str) -> None:
            nonlocal missing, done
            async with gate:
                text = word()
                reply = await products.put(
                    f"/api/products/{product_id}", json={"name": f"Bench Lamp {text}"}
                )
                reply.raise_for_status()
                seconds = await wait_visible(search, text, product_id)
                if seconds is None:
                    missing += 1
                else:
                    latencies.append(seconds * 1000)
                done += 1
                if done % 50 == 0:
                    print(f"  {done}/{len(ids)} updates visible in search", file=sys.stderr)

        wall = time.perf_counter()
        await asyncio.gather(*(update(product_id) for product_id in ids))
        wall = time.perf_counter() - wall
    ordered = sorted(latencies)
    return {
        "updates": len(ids),
        "never_visible": missing,
        "concurrency": concurrency,
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(percentile(ordered, 0.99), 1),
        "max_ms": round(ordered[-1], 1),
        "updates_per_s": round(len(ids) / wall, 1),
        "target_p99_ms": TARGET_P99_MS,
    }


async def clean_up(es_url: str, alias: str, mongo_url: str, database: str) -> None:
    es = AsyncElasticsearch(es_url, request_timeout=10)
    try:
        rows = (await es.cat.indices(index=f"{alias}-*", format="json")).body
        for row in rows:
            await es.options(ignore_status=404).indices.delete(index=row["index"])
    finally:
        await es.close()
    mongo: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    try:
        await mongo.drop_database(database)
    finally:
        await mongo.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    run_id = uuid.uuid4().hex[:8]
    topic = f"product-updated-bench-{run_id}"
    alias = f"bench-products-{run_id}"
    database = f"bench_search_{run_id}"
    with local_stack(components={"kafka", "elasticsearch", "mongodb"}, profile="bench") as ep:
        ep.create_topics({topic: 6, f"{topic}.dlq": 1})
        product_env = {
            "MONGODB_URL": ep.mongodb_url,
            "MONGODB_DB": database,
            "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
            "TOPIC_PRODUCT_UPDATED": topic,
            "LOG_LEVEL": "WARNING",
        }
        try:
            with start_service("product-service", env=product_env, profile="bench") as prod_url:
                search_env = {
                    "ELASTICSEARCH_URL": ep.elasticsearch_url,
                    "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
                    "SEARCH_INDEX_ALIAS": alias,
                    "TOPIC_PRODUCT_UPDATED": topic,
                    "CONSUMER_GROUP": f"bench-search-{run_id}",
                    "PRODUCT_SERVICE_URL": prod_url,
                    "LOG_LEVEL": "WARNING",
                }
                with start_service("search-service", env=search_env, profile="bench") as url:
                    print(
                        f"product-service at {prod_url}, search-service at {url}; "
                        f"{args.updates} updates, {args.concurrency} at a time",
                        file=sys.stderr,
                    )
                    result = asyncio.run(run(prod_url, url, args.updates, args.concurrency))
        finally:
            asyncio.run(clean_up(ep.elasticsearch_url, alias, ep.mongodb_url, database))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    ok = result["never_visible"] == 0 and float(result["p99_ms"]) < TARGET_P99_MS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
