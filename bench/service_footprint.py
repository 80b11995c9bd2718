"""Service footprint: resident memory (RSS) and CPU of each of the seven services, idle and
under a short mixed load through the gateway. The Kubernetes requests and limits in
deploy/kubernetes/ are taken from these figures (deploy/kubernetes/README.md says how).

Starts what it needs (PostgreSQL, Redis, the broker + search stand-in, MongoDB stand-in, SMTP
sink, and the seven services under uvicorn on free ports, bench profile):

    .venv/bin/python bench/service_footprint.py [--idle 10] [--load 20] [--concurrency 16]

Per service: RSS idle (after start-up and the demo products), peak RSS under load, CPU in
millicores (1000 = one core busy) averaged over the idle window and over the load window, read
from /proc/<pid> (Linux). One uvicorn worker per process, as in the images.
"""

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx

from devstack import local_stack, start_service
from devstack.paths import find_repo_root
from devstack.pidfile import running_pid
from devstack.profiles import get_profile
from devstack.services import get_service, service_paths

RESULTS = Path(__file__).parent / "results" / "service_footprint.json"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 2**20


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def pid_of(name: str, url: str) -> int:
    spec = get_service(name)
    port = int(url.rsplit(":", 1)[1])
    pid = running_pid(service_paths(find_repo_root(), get_profile("bench"), spec, port).pid)
    if pid is None:
        raise SystemExit(f"{name}: no PID file for the process at {url}")
    return pid


async def sample(pids: dict[str, int], seconds: float, peak: dict[str, float]) -> dict[str, float]:
    """Average CPU in millicores per process over `seconds`; updates the peak RSS."""
    start = {name: cpu_seconds(pid) for name, pid in pids.items()}
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        for name, pid in pids.items():
            peak[name] = max(peak.get(name, 0.0), rss_mib(pid))
        await asyncio.sleep(0.25)
    elapsed = time.monotonic() - began
    return {
        name: round((cpu_seconds(pid) - start[name]) / elapsed * 1000) for name, pid in pids.items()
    }


async def load(gateway: str, seconds: float, concurrency: int, product_ids: list[str]) -> int:
    deadline = time.monotonic() + seconds
    done = 0

    async def worker(n: int) -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
            i = 0
            while time.monotonic() < deadline:
                pid = product_ids[(n + i) % len(product_ids)]
                kind = (n + i) % 6
                if kind == 0:
                    await client.get("/api/products", params={"page_size": 20})
                elif kind == 1:
                    await client.get("/api/search", params={"q": "lamp"})
                elif kind == 2:
                    await client.get(f"/api/inventory/{pid}")
                elif kind == 3:
                    await client.post(
                        "/api/orders",
                        json={
                            "customer_name": "Load",
                            "customer_email": f"load{n}@example.com",
                            "items": [
                                {
                                    "product_id": pid,
                                    "product_name": "Lamp",
                                    "quantity": 1,
                                    "unit_price": 10.0,
                                }
                            ],
                        },
                    )
                elif kind == 4:
                    await client.post("/api/ai/chat", json={"message": "a lamp under $50"})
                else:
                    await client.get("/api/notifications", params={"email": f"load{n}@example.com"})
                done += 1
                i += 1

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return done


async def seed(gateway: str, count: int) -> list[str]:
    ids = []
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        for n in range(count):
            reply = await client.post(
                "/api/products",
                json={
                    "name": f"Footprint Lamp {n}",
                    "description": "A desk lamp for measuring",
                    "price": 10.0 + n,
                    "category": "lighting",
                    "stock_quantity": 10_000,
                },
            )
            reply.raise_for_status()
            product = reply.json()
            ids.append(product["id"])
            created = await client.post(
                "/api/inventory",
                json={
                    "product_id": product["id"],
                    "product_name": product["name"],
                    "quantity": 100_000,
                },
            )
            if created.status_code not in (200, 201, 409):
                created.raise_for_status()
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--load", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    with local_stack(profile="bench") as ep, ExitStack() as stack:
        common = {
            "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": ep.redis_url,
        }

        def start(name: str, env: dict[str, str]) -> str:
            print(f"starting {name}", file=sys.stderr, flush=True)
            return stack.enter_context(start_service(name, env={**common, **env}, profile="bench"))

        urls: dict[str, str] = {}
        urls["inventory-service"] = start(
            "inventory-service",
            {
                "DATABASE_URL": ep.postgres_url(f"bench_fp_inventory_{run}"),
                "CONSUMER_GROUP": f"fp-inventory-{run}",
            },
        )
        urls["product-service"] = start(
            "product-service",
            {
                "MONGODB_URL": ep.mongodb_url,
                "MONGODB_DB": f"bench_fp_{run}",
                "INVENTORY_SERVICE_URL": urls["inventory-service"],
            },
        )
        urls["order-service"] = start(
            "order-service",
            {
                "DATABASE_URL": ep.postgres_url(f"bench_fp_order_{run}"),
                "INVENTORY_SERVICE_URL": urls["inventory-service"],
            },
        )
        urls["notification-service"] = start(
            "notification-service",
            {
                "SMTP_PORT": str(ep.profile.smtp_port),
                "REDIS_KEY_PREFIX": f"fp-notification-{run}",
                "CONSUMER_GROUP": f"fp-notif-{run}",
            },
        )
        urls["search-service"] = start(
            "search-service",
            {
                "ELASTICSEARCH_URL": ep.elasticsearch_url,
                "SEARCH_INDEX_ALIAS": f"fp-{run}",
                "PRODUCT_SERVICE_URL": urls["product-service"],
                "CONSUMER_GROUP": f"fp-search-{run}",
            },
        )
        urls["ai-service"] = start(
            "ai-service",
            {
                "PRODUCT_SERVICE_URL": urls["product-service"],
                "REDIS_KEY_PREFIX": f"fp-ai-{run}",
                "CONSUMER_GROUP": f"fp-ai-{run}",
            },
        )
        urls["api-gateway"] = start(
            "api-gateway",
            {
                "RATE_LIMIT_ENABLED": "false",
                **{f"{name.upper().replace('-', '_')}_URL": url for name, url in urls.items()},
            },
        )
        pids = {name: pid_of(name, url) for name, url in urls.items()}
        print("seeding 20 products", file=sys.stderr, flush=True)
        product_ids = asyncio.run(seed(urls["api-gateway"], 20))
        idle_peak: dict[str, float] = {}
        print(f"idle for {args.idle}s", file=sys.stderr, flush=True)
        idle_cpu = asyncio.run(sample(pids, args.idle, idle_peak))
        load_peak: dict[str, float] = {}
        print(
            f"load for {args.load}s at {args.concurrency} connections", file=sys.stderr, flush=True
        )

        async def loaded() -> tuple[dict[str, float], int]:
            sampling = asyncio.create_task(sample(pids, args.load, load_peak))
            requests = await load(urls["api-gateway"], args.load, args.concurrency, product_ids)
            return await sampling, requests

        load_cpu, requests = asyncio.run(loaded())
    services = {
        name: {
            "rss_idle_mib": round(idle_peak[name], 1),
            "rss_load_peak_mib": round(load_peak[name], 1),
            "cpu_idle_millicores": idle_cpu[name],
            "cpu_load_millicores": load_cpu[name],
        }
        for name in pids
    }
    result = {
        "idle_seconds": args.idle,
        "load_seconds": args.load,
        "concurrency": args.concurrency,
        "load_requests": requests,
        "load_rps": round(requests / args.load, 1),
        "max_rss_mib": max(s["rss_load_peak_mib"] for s in services.values()),
        "services": services,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for name, figures in services.items():
        print(f"{name:22} " + " ".join(f"{k}={v}" for k, v in figures.items()))
    print(
        f"RESULT load_rps={result['load_rps']} max_rss_mib={result['max_rss_mib']} "
        + " ".join(
            f"{n.split('-')[0]}_rss_peak_mib={s['rss_load_peak_mib']}" for n, s in services.items()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
