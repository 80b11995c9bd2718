"""Storefront benchmark: what a shopper's browser pays, measured in headless Chromium (Debian's,
driven by Playwright through its executable path) against the local fleet.

Starts what it needs (bench profile): the stand-ins, then product-, inventory-, order- and
search-service and the gateway (AUTH_ENABLED=false, rate limit raised: one client makes every
request here) under uvicorn on free ports, and loads the 38-product demo catalog with its stock.
`uv run python bench/storefront.py` is the whole command; the shop must be built first
(`make storefront`).

- js_kb: JavaScript the first load of `/` downloads, gzip-compressed (-9), in KB. Budget 150.
- first_grid_ms: from navigation start to the first product grid on screen, as the browser
  counts it (the shop's User Timing mark `storefront:first-grid`, set when the grid has
  rendered), cold cache, median of --runs fresh browser contexts. Target 1000.
  first_grid_wall_ms: the same seen from outside (goto until the first card is visible through
  Playwright). Reference beside it: api_grid_ms, the three API calls the page makes (config,
  filter, stock) made one after the other from Python.
- checkout_ms: product page -> add to cart -> cart -> name and email -> place order -> order
  number on screen, median of --checkouts runs.
"""

import argparse
import gzip
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, sync_playwright

from devstack import local_stack, start_service
from devstack.browser import LAUNCH_ARGS, chromium_executable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "storefront.json"
CATALOG = ROOT / "product-service" / "product_service" / "demo_catalog.json"
JS_BUDGET_KB = 150.0
FIRST_GRID_TARGET_MS = 1000.0


def load_catalog(gateway: str) -> list[dict[str, Any]]:
    products = json.loads(CATALOG.read_text())["products"]
    created = []
    with httpx.Client(base_url=gateway, timeout=30) as api:
        for product in products:
            reply = api.post("/api/products", json=product)
            reply.raise_for_status()
            body = reply.json()
            api.post(
                "/api/inventory",
                json={"product_id": body["id"], "product_name": body["name"], "quantity": 1000},
            ).raise_for_status()
            created.append(body)
        deadline = time.monotonic() + 60
        while api.get("/api/search/filter").json().get("total", 0) < len(created):
            if time.monotonic() > deadline:
                raise SystemExit("search never caught up with the demo catalog")
            time.sleep(0.2)
    return created


def api_grid_ms(gateway: str, runs: int) -> float:
    times = []
    with httpx.Client(base_url=gateway, timeout=30) as api:
        for _ in range(runs):
            started = time.perf_counter()
            api.get("/config.json").raise_for_status()
            api.get("/api/search/filter", params={"page": 1, "size": 12}).raise_for_status()
            api.get("/api/inventory", params={"limit": 500}).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def first_load(browser: Browser, gateway: str) -> tuple[float, float, int, int]:
    """(ms to the grid mark, ms to the first visible card from outside, gzip bytes of JS, gzip
    bytes of CSS) in a cold context."""
    context = browser.new_context()
    page = context.new_page()
    bodies: dict[str, list[bytes]] = {"script": [], "stylesheet": []}

    def collect(response: Any) -> None:
        kind = response.request.resource_type
        if kind in bodies and response.ok:
            bodies[kind].append(response.body())

    page.on("response", collect)
    started = time.perf_counter()
    page.goto(gateway + "/", wait_until="commit")
    page.wait_for_selector(".product-card", timeout=30_000)
    wall = (time.perf_counter() - started) * 1000
    marked = float(
        page.evaluate("performance.getEntriesByName('storefront:first-grid')[0]?.startTime ?? -1")
    )
    if marked < 0:
        raise SystemExit("the shop set no storefront:first-grid mark")
    page.wait_for_load_state("load")
    context.close()
    js = sum(len(gzip.compress(b, 9)) for b in bodies["script"])
    css = sum(len(gzip.compress(b, 9)) for b in bodies["stylesheet"])
    return marked, wall, js, css


def checkout(browser: Browser, gateway: str, product_id: str) -> float:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    started = time.perf_counter()
    page.goto(f"{gateway}/product/{product_id}", wait_until="commit")
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_role("link", name="Cart").first.click()
    page.get_by_label("Name").fill("Bench Shopper")
    page.get_by_label("Email").fill(f"bench-{uuid.uuid4().hex[:8]}@example.com")
    page.get_by_role("button", name="Place order").click()
    page.get_by_test_id("order-number").wait_for()
    elapsed = (time.perf_counter() - started) * 1000
    context.close()
    return elapsed


def measure(gateway: str, runs: int, checkouts: int) -> dict[str, Any]:
    products = load_catalog(gateway)
    print(f"  demo catalog loaded: {len(products)} products", file=sys.stderr)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_executable(), args=list(LAUNCH_ARGS), headless=True
        )
        try:
            # Warms the services' caches and pools; each measured load has a cold browser.
            first_load(browser, gateway)
            loads = [first_load(browser, gateway) for _ in range(runs)]
            print(f"  {runs} cold first loads done", file=sys.stderr)
            times = [
                checkout(browser, gateway, products[n % len(products)]["id"])
                for n in range(checkouts)
            ]
            print(f"  {checkouts} checkouts done", file=sys.stderr)
        finally:
            browser.close()
    grid = sorted(load[0] for load in loads)
    return {
        "js_kb": round(loads[-1][2] / 1024, 1),
        "css_kb": round(loads[-1][3] / 1024, 1),
        "first_grid_ms": round(statistics.median(grid), 1),
        "first_grid_max_ms": round(grid[-1], 1),
        "first_grid_wall_ms": round(statistics.median(load[1] for load in loads), 1),
        "api_grid_ms": round(api_grid_ms(gateway, runs), 1),
        "checkout_ms": round(statistics.median(times), 1),
        "checkout_max_ms": round(max(times), 1),
        "runs": runs,
        "checkouts": checkouts,
        "js_budget_kb": JS_BUDGET_KB,
        "first_grid_target_ms": FIRST_GRID_TARGET_MS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="cold first loads")
    parser.add_argument("--checkouts", type=int, default=5)
    args = parser.parse_args()
    if not (ROOT / "storefront" / "dist" / "index.html").exists():
        raise SystemExit("the storefront is not built: run `make storefront` first")
    run_id = uuid.uuid4().hex[:8]
    topics = {
        f"TOPIC_{name.upper().replace('-', '_')}": f"{name}-bench-shop-{run_id}"
        for name in (
            "order-placed",
            "order-cancelled",
            "order-status-changed",
            "inventory-low",
            "product-updated",
        )
    }
    quiet = {"LOG_LEVEL": "WARNING"}
    with local_stack(
        components={"postgres", "redis", "kafka", "elasticsearch", "mongodb"}, profile="bench"
    ) as ep:
        ep.create_topics({t: 3 for t in topics.values()} | {f"{t}.dlq": 1 for t in topics.values()})
        kafka = {"KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap, **topics, **quiet}
        with (
            start_service(
                "inventory-service",
                profile="bench",
                env={
                    **kafka,
                    "DATABASE_URL": ep.postgres_url(f"bench_shop_inventory_{run_id}"),
                    "CONSUMER_GROUP": f"bench-shop-inventory-{run_id}",
                },
            ) as inventory,
            start_service(
                "order-service",
                profile="bench",
                env={
                    **kafka,
                    "DATABASE_URL": ep.postgres_url(f"bench_shop_orders_{run_id}"),
                    "INVENTORY_SERVICE_URL": inventory,
                },
            ) as orders,
            start_service(
                "product-service",
                profile="bench",
                env={**kafka, "MONGODB_URL": ep.mongodb_url, "MONGODB_DB": f"bench_shop_{run_id}"},
            ) as products,
            start_service(
                "search-service",
                profile="bench",
                env={
                    **kafka,
                    "ELASTICSEARCH_URL": ep.elasticsearch_url,
                    "SEARCH_INDEX_ALIAS": f"bench-shop-{run_id}",
                    "PRODUCT_SERVICE_URL": products,
                    "CONSUMER_GROUP": f"bench-shop-search-{run_id}",
                },
            ) as search,
            start_service(
                "api-gateway",
                profile="bench",
                env={
                    **quiet,
                    "REDIS_URL": ep.redis_url,
                    "RATE_LIMIT_DEFAULT": "100000/minute",
                    "RATE_LIMIT_KEY_PREFIX": f"bench-shop-{run_id}",
                    "PRODUCT_SERVICE_URL": products,
                    "ORDER_SERVICE_URL": orders,
                    "INVENTORY_SERVICE_URL": inventory,
                    "SEARCH_SERVICE_URL": search,
                },
            ) as gateway,
        ):
            print(
                f"gateway at {gateway}; {args.runs} cold loads, {args.checkouts} checkouts",
                file=sys.stderr,
            )
            result = measure(gateway, args.runs, args.checkouts)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    ok = result["js_kb"] <= JS_BUDGET_KB and result["first_grid_ms"] <= FIRST_GRID_TARGET_MS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
