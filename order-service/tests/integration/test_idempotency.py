"""Idempotency-Key: a retry returns the first order; never a second order, never double stock."""

import asyncio
import uuid

import httpx

from .conftest import StockFactory, order_body


async def test_same_key_and_body_replays_the_first_order(
    client: httpx.AsyncClient, inventory: httpx.AsyncClient, stock: StockFactory
) -> None:
    product_id = await stock(10)
    email = f"retry-{uuid.uuid4().hex[:6]}@example.com"
    body, key = order_body(product_id, 2, email=email), str(uuid.uuid4())
    first = await client.post("/api/orders", json=body, headers={"Idempotency-Key": key})
    second = await client.post("/api/orders", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len((await client.get(f"/api/orders/user/{email}")).json()) == 1
    item = (await inventory.get(f"/api/inventory/{product_id}")).json()
    assert item["reserved_qty"] == 2


async def test_same_key_with_another_body_is_422(
    client: httpx.AsyncClient, stock: StockFactory
) -> None:
    product_id = await stock(10)
    key = str(uuid.uuid4())
    first = await client.post(
        "/api/orders", json=order_body(product_id, 1), headers={"Idempotency-Key": key}
    )
    assert first.status_code == 201
    other = await client.post(
        "/api/orders", json=order_body(product_id, 3), headers={"Idempotency-Key": key}
    )
    assert other.status_code == 422
    assert (
        "Idempotency-Key was already used with a different request body" in other.json()["detail"]
    )


async def test_concurrent_requests_with_one_key_make_one_order(
    client: httpx.AsyncClient, inventory: httpx.AsyncClient, stock: StockFactory
) -> None:
    product_id = await stock(100)
    email = f"race-{uuid.uuid4().hex[:6]}@example.com"
    body, key = order_body(product_id, 3, email=email), str(uuid.uuid4())
    replies = await asyncio.gather(
        *(client.post("/api/orders", json=body, headers={"Idempotency-Key": key}) for _ in range(8))
    )
    assert {r.status_code for r in replies} == {201}
    assert len({r.json()["id"] for r in replies}) == 1
    assert len((await client.get(f"/api/orders/user/{email}")).json()) == 1
    # The losers gave their holds back: only the winner's 3 units stay reserved.
    item = (await inventory.get(f"/api/inventory/{product_id}")).json()
    assert item["reserved_qty"] == 3


async def test_a_failed_attempt_does_not_burn_the_key(
    client: httpx.AsyncClient, inventory: httpx.AsyncClient, stock: StockFactory
) -> None:
    product_id = await stock(1)
    key, body = str(uuid.uuid4()), order_body(product_id, 2)
    refused = await client.post("/api/orders", json=body, headers={"Idempotency-Key": key})
    assert refused.status_code == 400
    await inventory.patch(f"/api/inventory/{product_id}/restock", json={"quantity": 1})
    placed = await client.post("/api/orders", json=body, headers={"Idempotency-Key": key})
    assert placed.status_code == 201
