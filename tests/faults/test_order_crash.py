"""order-service killed with SIGKILL mid-burst, then started again:

- an order that was committed but never answered is found by a retry with the same
  Idempotency-Key: the retry returns that order (`Idempotent-Replayed: true`), never a second;
- no reservation outlives its TTL as an orphan: a reservation whose order never committed
  expires and gives its stock back, one whose order committed is confirmed, and the stock adds up.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from devstack.asyncbridge import run_sync
from devstack.local_stack import Endpoints

from .conftest import ServiceProcess, fleet_topics, pg_fetch, postgres_url
from .recording import record_case

ORDERS_PER_ROUND = 40
IN_FLIGHT = 16
KILL_AFTER_S = 1.0
# Longer than order-service takes to restart here (up to ~15 s on a loaded 2-core machine): a
# committed order's reservation is confirmed by the restarted service's outbox event before it
# could expire. The default TTL is 600 s.
TTL_S = 30
ROUNDS = 3  # until a round catches an order committed but unanswered
IMPATIENT_S = 0.05


def body(n: int, product_id: str, marker: str) -> dict[str, Any]:
    return {
        "customer_name": f"Crash {n}",
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


async def burst(
    url: str, keys: list[str], product_id: str, marker: str, answered: dict[str, str]
) -> None:
    """Place one order per key, IN_FLIGHT at a time; `answered[key]` = id of each 201."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=url, timeout=20) as client:

        async def place(n: int, key: str) -> None:
            async with gate:
                # Every fifth client gives up after 50 ms, as an impatient one would: the server
                # goes on and commits, and the kill that follows leaves that order committed
                # but unanswered for certain (a kill alone rarely lands between commit and
                # reply, which is a few microseconds wide).
                timeout = IMPATIENT_S if n % 5 == 0 else 20
                try:
                    reply = await client.post(
                        "/api/orders",
                        json=body(n, product_id, marker),
                        headers={"Idempotency-Key": key},
                        timeout=timeout,
                    )
                except httpx.HTTPError:
                    return  # killed under us, or gave up: unanswered
                if reply.status_code == 201:
                    answered[key] = reply.json()["id"]

        await asyncio.gather(*(place(n, k) for n, k in enumerate(keys)), return_exceptions=True)


async def committed_keys(url: str) -> dict[str, str]:
    rows = await pg_fetch(url, "SELECT key, order_id FROM idempotency_keys")
    return {r["key"]: str(r["order_id"]) for r in rows}


async def reservations(url: str) -> list[asyncpg.Record]:
    return await pg_fetch(
        url, "SELECT id, status, expires_at < now() AS past_ttl FROM reservations"
    )


def test_order_service_killed_mid_burst_leaves_no_orphan_and_retries_find_committed_orders(
    fault_stack: Endpoints, services: Callable[..., ServiceProcess]
) -> None:
    ep = fault_stack
    run = uuid.uuid4().hex[:8]
    topics = fleet_topics(ep, "ordercrash")
    common = {**topics, "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap}
    inventory_db = postgres_url(ep, "faults_ordercrash_inventory")
    order_db = postgres_url(ep, "faults_ordercrash_orders")
    inventory = services(
        "inventory-service",
        {
            **common,
            "DATABASE_URL": inventory_db,
            "CONSUMER_GROUP": f"inventory-oc-{run}",
            "RESERVATION_SWEEP_INTERVAL_SECONDS": "0.5",
        },
    )
    orders = services(
        "order-service",
        {
            **common,
            "DATABASE_URL": order_db,
            "INVENTORY_SERVICE_URL": inventory.url,
            "ORDER_RESERVATION_TTL_SECONDS": str(TTL_S),
        },
    )
    product_id = f"ordercrash-{run}"
    stock = 1000
    created = httpx.post(
        f"{inventory.url}/api/inventory",
        timeout=10,
        json={"product_id": product_id, "product_name": "Sturdy Mug", "quantity": stock},
    )
    assert created.status_code == 201, created.text

    marker = f"ordercrash-{run}"
    all_keys: list[str] = []
    answered: dict[str, str] = {}
    caught: dict[str, str] = {}  # committed before the kill, never answered
    replayed_ok = 0
    restart_s: list[float] = []
    for round_no in range(ROUNDS):
        keys = [f"{run}-{round_no}-{n}" for n in range(ORDERS_PER_ROUND)]
        all_keys += keys

        async def round_trip(keys: list[str] = keys) -> None:
            task = asyncio.create_task(burst(orders.url, keys, product_id, marker, answered))
            await asyncio.sleep(KILL_AFTER_S)
            await asyncio.to_thread(orders.kill9)
            await task

        run_sync(round_trip())
        killed = time.monotonic()
        orders.start()
        restart_s.append(time.monotonic() - killed)
        committed = run_sync(committed_keys(order_db))
        unanswered = [k for k in keys if k not in answered]
        # Retry every unanswered order with its key and its body, as a client would.
        for key in unanswered:
            n = int(key.rsplit("-", 1)[1])
            reply = httpx.post(
                f"{orders.url}/api/orders",
                json=body(n, product_id, marker),
                headers={"Idempotency-Key": key},
                timeout=20,
            )
            assert reply.status_code == 201, f"retry of {key}: {reply.status_code} {reply.text}"
            if key in committed:
                caught[key] = committed[key]
                assert reply.headers.get("Idempotent-Replayed") == "true", (
                    f"{key} was committed before the kill, yet the retry placed a new order"
                )
                assert reply.json()["id"] == committed[key]
                replayed_ok += 1
            answered[key] = reply.json()["id"]
        if caught:
            break

    # One order per key, whatever the kills did.
    committed = run_sync(committed_keys(order_db))
    assert set(committed) == set(all_keys)
    assert all(committed[k] == answered[k] for k in all_keys)
    assert caught, (
        f"no round of {ROUNDS} caught an order committed but unanswered; the "
        "Idempotency-Key replay after a crash was not exercised"
    )

    # Orphans: reservations of orders that never committed must expire within their TTL.
    checked_at = time.monotonic()
    deadline = checked_at + TTL_S + 20
    while True:
        rows = run_sync(reservations(inventory_db))
        order_ids = set(committed.values())
        orphans = [r for r in rows if str(r["id"]) not in order_ids and r["status"] == "HELD"]
        stale = [r for r in orphans if r["past_ttl"]]
        unconfirmed = [
            r
            for r in rows
            if str(r["id"]) in order_ids and r["status"] not in ("CONFIRMED", "COMMITTED")
        ]
        if not orphans and not unconfirmed:
            break
        assert time.monotonic() < deadline, (
            f"{len(stale)} orphan reservations past their TTL, {len(orphans)} held, "
            f"{len(unconfirmed)} committed orders not confirmed: "
            f"{[(str(r['id']), r['status']) for r in unconfirmed]}"
        )
        time.sleep(0.5)
    settled_s = time.monotonic() - checked_at
    item = httpx.get(f"{inventory.url}/api/inventory/{product_id}", timeout=10).json()
    orphaned = sum(1 for r in rows if str(r["id"]) not in set(committed.values()))
    record_case(
        "order_service_kill9_mid_burst",
        placed=len(all_keys),
        delivered=len(committed),
        duplicates=len(committed) - len(set(committed.values())),
        lost=len(all_keys) - len(committed),
        recovery_s=max(restart_s),
        committed_unanswered_replayed=replayed_ok,
        orphan_reservations_expired=orphaned,
        orphans_settled_s=round(settled_s, 2),
    )
    assert item["reserved_qty"] == len(committed)
    assert item["available_qty"] == stock - len(committed)
