"""AI relevance benchmark: does the shopping assistant find what shoppers mean, stay grounded,
and answer fast, on the local stack, offline?

Starts what it needs (the broker and MongoDB stand-ins, Redis, then product-service and
ai-service under uvicorn on free ports, bench profile), so
`uv run python bench/ai_relevance.py` is the whole command. Loads the demo catalog into
product-service over REST; ai-service loads it from there and embeds it. Then, for the labelled
queries of bench/ai_relevance_queries.json:

- `hit_at_3`, `mrr_at_5`: over the queries that have an answer, from POST /api/ai/suggest
  (its `matches`); `no_fit_honest`: queries with no answer that got no match.
- `ungrounded`: products returned anywhere (suggest matches and alternatives, chat, and
  recommendations for every product) that are not in the catalog at their catalog price.
- `suggest_p95_ms`, `chat_p95_ms`: latency through HTTP, one request at a time, every query
  `--rounds` times.
- `ai_rss_mb`: the ai-service process's resident memory after the run (`ai_peak_rss_mb`: its
  high-water mark).
- `bm25_*`: the same figures for plain BM25, the same service started with
  RETRIEVAL_MODE=lexical, in the same run.
- `restart_embedded`: products embedded again by a hybrid restart (0: all from the Redis
  cache); `bought_together_ok`: orders delivered twice each are counted once, and the
  recommendations say "Often bought with".
Targets: hit_at_3 >= 0.95, ungrounded == 0, suggest_p95_ms <= 50, ai_rss_mb <= 400.
"""

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from chassis.events import new_event
from chassis.kafka import EventProducer
from devstack import local_stack, start_service
from devstack.paths import find_repo_root
from devstack.pidfile import read_pid
from devstack.profiles import get_profile
from devstack.services import free_port, get_service, service_paths

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ai_relevance.json"
QUERIES = ROOT / "bench" / "ai_relevance_queries.json"
DEMO_CATALOG = ROOT / "product-service" / "product_service" / "demo_catalog.json"
TARGETS = {"hit_at_3": 0.95, "suggest_p95_ms": 50.0, "ai_rss_mb": 400.0}
READY_SECONDS = 180.0
# Orders for the bought-together check: (first product, second product, times).
ORDERS = [("Nespresso Vertuo Next", "Atomic Habits", 3), ("Nespresso Vertuo Next", "Dune", 1)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


@dataclass
class Catalog:
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    id_of: dict[str, str] = field(default_factory=dict)

    def grounded(self, item: dict[str, Any]) -> bool:
        product = self.by_id.get(item.get("product_id", ""))
        return (
            product is not None
            and item.get("name") == product["name"]
            and Decimal(str(item.get("price"))) == Decimal(str(product["price"]))
        )


async def load_catalog(products_url: str) -> Catalog:
    catalog = Catalog()
    async with httpx.AsyncClient(base_url=products_url, timeout=30) as http:
        for product in json.loads(DEMO_CATALOG.read_text())["products"]:
            reply = await http.post("/api/products", json=product)
            reply.raise_for_status()
            created = reply.json()
            catalog.by_id[created["id"]] = created
            catalog.id_of[created["name"]] = created["id"]
    return catalog


def metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def wait_ready(url: str, products: int, *, embedded: bool) -> float:
    """Seconds until every product is loaded (and, if `embedded`, has its vector)."""
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        while time.perf_counter() - started < READY_SECONDS:
            text = (await http.get("/metrics")).text
            loaded = metric(text, "ai_catalog_products") >= products
            if loaded and (not embedded or metric(text, "ai_embedded_products") >= products):
                return time.perf_counter() - started
            await asyncio.sleep(0.2)
    raise SystemExit(f"ai-service at {url} did not load and embed the catalog in time")


def rss_mb(port: int) -> tuple[float, float]:
    """(current, peak) resident memory of the ai-service process listening on `port`."""
    paths = service_paths(find_repo_root(), get_profile("bench"), get_service("ai-service"), port)
    record = read_pid(paths.pid)
    if record is None:
        raise SystemExit("no PID file for the ai-service under test")
    status = Path(f"/proc/{record.pid}/status").read_text()
    values = {
        line.split(":")[0]: int(line.split()[1])
        for line in status.splitlines()
        if line.startswith(("VmRSS", "VmHWM"))
    }
    return round(values["VmRSS"] / 1024, 1), round(values["VmHWM"] / 1024, 1)


async def evaluate(url: str, catalog: Catalog, rounds: int) -> dict[str, Any]:
    queries = json.loads(QUERIES.read_text())["queries"]
    suggest_ms: list[float] = []
    chat_ms: list[float] = []
    hits = reciprocal = answered = honest = no_fit = ungrounded = returned = 0
    misses: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for q in queries[:5]:  # warm-up: first calls pay for lazy index builds
            await http.post("/api/ai/suggest", json={"query": q["query"]})
        for round_number in range(rounds):
            for q in queries:
                started = time.perf_counter()
                reply = await http.post("/api/ai/suggest", json={"query": q["query"]})
                suggest_ms.append((time.perf_counter() - started) * 1000)
                reply.raise_for_status()
                body = reply.json()
                if round_number:
                    continue
                for item in body["matches"] + body.get("alternatives", []):
                    returned += 1
                    ungrounded += not catalog.grounded(item)
                names = [m["name"] for m in body["matches"]]
                if not q["relevant"]:
                    no_fit += 1
                    honest += not names
                    continue
                answered += 1
                if any(name in q["relevant"] for name in names[:3]):
                    hits += 1
                else:
                    misses.append(q["query"])
                for position, name in enumerate(names[:5], 1):
                    if name in q["relevant"]:
                        reciprocal += 1 / position
                        break
            print(f"  suggest round {round_number + 1}/{rounds} done", file=sys.stderr)
        for q in queries:
            started = time.perf_counter()
            reply = await http.post("/api/ai/chat", json={"message": q["query"]})
            chat_ms.append((time.perf_counter() - started) * 1000)
            reply.raise_for_status()
            for item in reply.json()["products"]:
                returned += 1
                ungrounded += not catalog.grounded(item)
        for product_id in catalog.by_id:
            reply = await http.get("/api/ai/recommendations", params={"product_id": product_id})
            reply.raise_for_status()
            for item in reply.json()["recommendations"]:
                returned += 1
                ungrounded += not catalog.grounded(item)
    return {
        "hit_at_3": round(hits / answered, 3),
        "mrr_at_5": round(reciprocal / answered, 3),
        "no_fit_honest": f"{honest}/{no_fit}",
        "ungrounded": ungrounded,
        "products_checked": returned,
        "suggest_p50_ms": round(statistics.median(suggest_ms), 1),
        "suggest_p95_ms": round(percentile(suggest_ms, 0.95), 1),
        "chat_p95_ms": round(percentile(chat_ms, 0.95), 1),
        "misses": misses,
    }


async def bought_together(url: str, bootstrap: str, topic: str, catalog: Catalog) -> bool:
    """Publishes each order twice (an at-least-once redelivery) and checks it counted once."""
    producer = EventProducer(bootstrap)
    try:
        for first, second, times in ORDERS:
            for _ in range(times):
                ids = [catalog.id_of[first], catalog.id_of[second]]
                order_id = str(uuid.uuid4())
                data = {
                    "order_id": order_id,
                    "order_number": f"ORD-BENCH-{order_id[:8]}",
                    "customer_name": "Bench Shopper",
                    "customer_email": "bench@example.com",
                    "total_amount": Decimal("1.00"),
                    "items": [
                        {
                            "product_id": pid,
                            "product_name": "x",
                            "quantity": 1,
                            "unit_price": Decimal("1.00"),
                        }
                        for pid in ids
                    ],
                }
                event = new_event(topic, "order-service", order_id, data)
                for _ in range(2):
                    await producer.publish(topic, event)
    finally:
        await producer.stop()
    anchor = catalog.id_of["Nespresso Vertuo Next"]
    expected = [
        f"Often bought with Nespresso Vertuo Next ({n} order{'s' if n > 1 else ''})"
        for _, _, n in ORDERS
    ]
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            reply = await http.get("/api/ai/recommendations", params={"product_id": anchor})
            reasons = [r["reason"] for r in reply.json()["recommendations"]]
            if reasons[:2] == expected:
                await asyncio.sleep(2)  # the redeliveries had their chance to double-count
                reply = await http.get("/api/ai/recommendations", params={"product_id": anchor})
                return [r["reason"] for r in reply.json()["recommendations"]][:2] == expected
            await asyncio.sleep(0.5)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="suggest passes over the queries")
    args = parser.parse_args()
    run_id = uuid.uuid4().hex[:8]
    topics = {
        name: f"{name}-bench-{run_id}"
        for name in ("product-updated", "order-placed", "ai-notification-ready")
    }
    database = f"bench_ai_{run_id}"
    result: dict[str, Any] = {}
    with local_stack(components={"redis", "kafka", "mongodb"}, profile="bench") as ep:
        ep.create_topics(
            {**{t: 3 for t in topics.values()}, **{f"{t}.dlq": 1 for t in topics.values()}}
        )
        product_env = {
            "MONGODB_URL": ep.mongodb_url,
            "MONGODB_DB": database,
            "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
            "TOPIC_PRODUCT_UPDATED": topics["product-updated"],
            "LOG_LEVEL": "WARNING",
        }
        with start_service("product-service", env=product_env, profile="bench") as products_url:
            catalog = asyncio.run(load_catalog(products_url))
            print(
                f"product-service at {products_url}: {len(catalog.by_id)} products", file=sys.stderr
            )
            prefix = f"ai-bench-{run_id}"

            def ai_env(mode: str) -> dict[str, str]:
                return {
                    "REDIS_URL": ep.redis_url,
                    "REDIS_KEY_PREFIX": prefix,
                    "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
                    "PRODUCT_SERVICE_URL": products_url,
                    "LLM_PROVIDER": "local",
                    "RETRIEVAL_MODE": mode,
                    "LOG_LEVEL": "WARNING",
                    "TOPIC_PRODUCT_UPDATED": topics["product-updated"],
                    "TOPIC_ORDER_PLACED": topics["order-placed"],
                    "TOPIC_AI_NOTIFICATION_READY": topics["ai-notification-ready"],
                    "CONSUMER_GROUP": f"ai-bench-{mode}-{run_id}",
                }

            for mode in ("hybrid", "lexical"):
                port = free_port()
                started = time.perf_counter()
                with start_service(
                    "ai-service",
                    port=port,
                    env=ai_env(mode),
                    profile="bench",
                    timeout=READY_SECONDS,
                ) as url:
                    ready = asyncio.run(
                        wait_ready(url, len(catalog.by_id), embedded=mode == "hybrid")
                    )
                    print(
                        f"ai-service ({mode}) at {url}: ready in "
                        f"{time.perf_counter() - started:.1f} s; measuring",
                        file=sys.stderr,
                    )
                    figures = asyncio.run(evaluate(url, catalog, args.rounds))
                    rss, peak = rss_mb(port)
                    figures.update(
                        ai_rss_mb=rss, ai_peak_rss_mb=peak, embed_catalog_s=round(ready, 2)
                    )
                    if mode == "hybrid":
                        result.update(figures)
                        ok = asyncio.run(
                            bought_together(
                                url, ep.kafka_bootstrap, topics["order-placed"], catalog
                            )
                        )
                        result["bought_together_ok"] = ok
                    else:
                        result.update(
                            {f"bm25_{k}": v for k, v in figures.items() if k != "embed_catalog_s"}
                        )
            # A hybrid restart: the vectors come from Redis, nothing is embedded again.
            port = free_port()
            with start_service(
                "ai-service",
                port=port,
                env=ai_env("hybrid"),
                profile="bench",
                timeout=READY_SECONDS,
            ) as url:
                result["restart_ready_s"] = round(
                    asyncio.run(wait_ready(url, len(catalog.by_id), embedded=True)), 2
                )
                text = httpx.get(f"{url}/metrics", timeout=10).text
                result["restart_embedded"] = int(
                    metric(text, "ai_embeddings_total", '{source="computed"}')
                )
    result.update(
        targets=TARGETS,
        queries=str(QUERIES.relative_to(ROOT)),
        command="uv run python bench/ai_relevance.py",
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    shown = {
        k: v
        for k, v in result.items()
        if k not in ("misses", "bm25_misses", "targets", "queries", "command")
    }
    print("RESULT " + " ".join(f"{k}={v}" for k, v in shown.items()))
    ok = (
        result["hit_at_3"] >= TARGETS["hit_at_3"]
        and result["ungrounded"] == 0
        and result["bm25_ungrounded"] == 0
        and result["suggest_p95_ms"] <= TARGETS["suggest_p95_ms"]
        and result["ai_rss_mb"] <= TARGETS["ai_rss_mb"]
        and result["bought_together_ok"]
        and result["restart_embedded"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
