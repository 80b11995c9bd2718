"""Inventory outage benchmark: stop inventory-service under order-service and measure what the
client sees. Expect 503 (never a hang or 500), replies within 100 ms once the circuit breaker is
open, and placement working again by itself after inventory-service returns (no restart of
order-service).

Starts what it needs (PostgreSQL, the broker, both services under uvicorn, bench profile), so
`uv run python bench/inventory_outage.py` is the whole command.
"""

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

from devstack import local_stack, start_service
from devstack.services import free_port

RESULTS = Path(__file__).parent / "results" / "inventory_outage.json"


def order(product_id: str, n: int) -> dict[str, object]:
    return {
        "customer_name": f"Buyer {n}",
        "customer_email": f"buyer{n}@example.com",
        "items": [
            {"product_id": product_id, "product_name": "Tea Pot", "quantity": 1, "unit_price": 20}
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outage-orders", type=int, default=100)
    parser.add_argument("--recovery-timeout", type=float, default=60.0)
    args = parser.parse_args()
    run_id = uuid.uuid4().hex[:8]
    product_id = f"teapot-{run_id}"
    with local_stack(components={"postgres", "kafka"}, profile="bench") as ep:
        inventory_port = free_port()
        inventory_env = {
            "DATABASE_URL": ep.postgres_url(f"bench_invout_inventory_{run_id}"),
            "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
            "CONSUMER_GROUP": f"bench-invout-{run_id}",
            "LOG_LEVEL": "WARNING",
        }
        inventory = start_service(
            "inventory-service", port=inventory_port, env=inventory_env, profile="bench"
        )
        inv_url = inventory.__enter__()
        try:
            order_env = {
                "DATABASE_URL": ep.postgres_url(f"bench_invout_orders_{run_id}"),
                "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
                "INVENTORY_SERVICE_URL": inv_url,
                "LOG_LEVEL": "WARNING",
            }
            with (
                start_service("order-service", env=order_env, profile="bench") as orders_url,
                httpx.Client(base_url=orders_url, timeout=30) as client,
            ):
                httpx.post(
                    f"{inv_url}/api/inventory",
                    json={"product_id": product_id, "product_name": "Tea Pot", "quantity": 1000},
                ).raise_for_status()
                warm = [client.post("/api/orders", json=order(product_id, n)) for n in range(5)]
                assert all(r.status_code == 201 for r in warm), [r.text for r in warm]
                print("5 orders placed; stopping inventory-service", file=sys.stderr)
                inventory.__exit__(None, None, None)
                inventory = None

                statuses: list[int] = []
                open_ms: list[float] = []
                before_open_ms: list[float] = []
                for n in range(args.outage_orders):
                    started = time.perf_counter()
                    reply = client.post("/api/orders", json=order(product_id, n))
                    elapsed = (time.perf_counter() - started) * 1000
                    statuses.append(reply.status_code)
                    if "circuit breaker open" in reply.json().get("detail", ""):
                        open_ms.append(elapsed)
                    else:
                        before_open_ms.append(elapsed)
                    if (n + 1) % 25 == 0:
                        print(f"  {n + 1}/{args.outage_orders} orders while down", file=sys.stderr)
                breaker_metric = next(
                    line
                    for line in client.get("/metrics").text.splitlines()
                    if line.startswith(
                        'circuit_breaker_state{dependency="inventory-service",endpoint="",'
                        'service="order-service"}'
                    )
                )
                print(f"  {breaker_metric}; starting inventory-service again", file=sys.stderr)

                inventory = start_service(
                    "inventory-service", port=inventory_port, env=inventory_env, profile="bench"
                )
                inventory.__enter__()
                back = time.perf_counter()
                recovered = False
                n = 0
                while time.perf_counter() - back < args.recovery_timeout:
                    n += 1
                    if client.post("/api/orders", json=order(product_id, n)).status_code == 201:
                        recovered = True
                        break
                    time.sleep(0.1)
                recovery_s = time.perf_counter() - back
                print(f"  recovered={recovered} after {recovery_s:.2f}s", file=sys.stderr)
        finally:
            if inventory is not None:
                inventory.__exit__(None, None, None)
    ordered = sorted(open_ms)
    result = {
        "outage_orders": len(statuses),
        "all_503": all(code == 503 for code in statuses),
        "replies_before_open": len(before_open_ms),
        "max_ms_before_open": round(max(before_open_ms, default=0.0), 2),
        "open_replies": len(open_ms),
        "open_reply_p50_ms": round(statistics.median(ordered), 2) if ordered else None,
        "open_reply_p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 2)
        if ordered
        else None,
        "open_reply_max_ms": round(max(ordered), 2) if ordered else None,
        "breaker_state_metric": float(breaker_metric.rsplit(" ", 1)[1]),
        "recovered": recovered,
        "recovery_s": round(recovery_s, 2),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    ok = (
        result["all_503"]
        and bool(ordered)
        and ordered[max(0, int(len(ordered) * 0.99) - 1)] < 100
        and recovered
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
