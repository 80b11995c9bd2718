"""The seed's inventory endpoints with docs/api.md's status codes and messages."""

import asyncio
import uuid

import httpx


async def _create(client: httpx.AsyncClient, product_id: str, quantity: int = 100, **extra) -> dict:
    reply = await client.post(
        "/api/inventory",
        json={
            "product_id": product_id,
            "product_name": "iPhone 15 Pro",
            "quantity": quantity,
            **extra,
        },
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


async def test_create_returns_item_with_available_quantity(client, product_id) -> None:
    item = await _create(client, product_id, 100)
    assert item["product_id"] == product_id
    assert item["quantity"] == 100
    assert item["reserved_qty"] == 0
    assert item["available_qty"] == 100
    assert item["low_stock_threshold"] == 10


async def test_duplicate_product_is_409_already_exists(client, product_id) -> None:
    await _create(client, product_id)
    reply = await client.post(
        "/api/inventory", json={"product_id": product_id, "product_name": "x", "quantity": 1}
    )
    assert reply.status_code == 409
    assert reply.json() == {"detail": f"Inventory for product {product_id} already exists"}


async def test_unknown_product_is_404_with_sentence(client) -> None:
    reply = await client.get("/api/inventory/nope-404")
    assert reply.status_code == 404
    assert reply.json() == {"detail": "Inventory not found for product: nope-404"}


async def test_list_is_a_json_array_bounded_by_limit_and_offset(client) -> None:
    for _ in range(3):
        await _create(client, f"list-{asyncio.get_running_loop().time()}")
    everything = (await client.get("/api/inventory", params={"limit": 500})).json()
    assert isinstance(everything, list)
    assert len(everything) >= 3
    reply = await client.get("/api/inventory", params={"limit": 2, "offset": 1})
    assert reply.json() == everything[1:3]
    # A capped list says so: the total, and where the next and previous pages are.
    total = int(reply.headers["x-total-count"])
    assert total >= 3
    assert '</api/inventory?limit=2&offset=3>; rel="next"' in reply.headers["link"]
    assert '</api/inventory?limit=2&offset=0>; rel="prev"' in reply.headers["link"]
    last = await client.get("/api/inventory", params={"limit": 2, "offset": total - 1})
    assert 'rel="next"' not in last.headers["link"]
    assert (await client.get("/api/inventory", params={"limit": 0})).status_code == 422


async def test_list_pages_with_page_and_page_size_too(client) -> None:
    for _ in range(3):
        await _create(client, f"paged-{uuid.uuid4().hex[:10]}")
    everything = (await client.get("/api/inventory", params={"page_size": 500})).json()
    reply = await client.get("/api/inventory", params={"page": 2, "page_size": 2})
    assert reply.json() == everything[2:4]
    assert '</api/inventory?page=1&page_size=2>; rel="prev"' in reply.headers["link"]
    assert int(reply.headers["x-total-count"]) >= 3
    conflicting = await client.get("/api/inventory", params={"page_size": 2, "limit": 3})
    assert conflicting.status_code == 422


async def test_check_reports_whether_requested_quantity_is_available(client, product_id) -> None:
    await _create(client, product_id, 5)
    ok = (await client.get(f"/api/inventory/{product_id}/check", params={"quantity": 5})).json()
    assert ok == {"product_id": product_id, "requested": 5, "in_stock": True, "available_qty": 5}
    short = (await client.get(f"/api/inventory/{product_id}/check", params={"quantity": 6})).json()
    assert short["in_stock"] is False
    bad = await client.get(f"/api/inventory/{product_id}/check", params={"quantity": -1})
    assert bad.status_code == 422


async def test_reduce_lowers_quantity_and_moves_updated_at(client, product_id) -> None:
    created = await _create(client, product_id, 10)
    reply = await client.patch(f"/api/inventory/{product_id}/reduce", json={"quantity": 4})
    assert reply.status_code == 200
    item = reply.json()
    assert (item["quantity"], item["available_qty"]) == (6, 6)
    assert item["updated_at"] > created["updated_at"]


async def test_reduce_beyond_available_is_400_insufficient_stock(client, product_id) -> None:
    await _create(client, product_id, 3)
    reply = await client.patch(f"/api/inventory/{product_id}/reduce", json={"quantity": 4})
    assert reply.status_code == 400
    assert reply.json() == {"detail": "Insufficient stock for product: iPhone 15 Pro"}
    assert (await client.get(f"/api/inventory/{product_id}")).json()["quantity"] == 3


async def test_restock_raises_quantity(client, product_id) -> None:
    await _create(client, product_id, 3)
    item = (await client.patch(f"/api/inventory/{product_id}/restock", json={"quantity": 7})).json()
    assert (item["quantity"], item["available_qty"]) == (10, 10)
    missing = await client.patch("/api/inventory/nope/restock", json={"quantity": 1})
    assert missing.status_code == 404


async def test_put_changes_only_given_fields(client, product_id) -> None:
    await _create(client, product_id, 3)
    item = (
        await client.put(f"/api/inventory/{product_id}", json={"product_name": "iPhone 16"})
    ).json()
    assert (item["product_name"], item["quantity"]) == ("iPhone 16", 3)
    item = (await client.put(f"/api/inventory/{product_id}", json={"quantity": 40})).json()
    assert (item["product_name"], item["quantity"]) == ("iPhone 16", 40)
    for body in ({}, {"quantity": None}, {"unknown": 1}):
        reply = await client.put(f"/api/inventory/{product_id}", json=body)
        assert (reply.status_code, reply.json()) == (400, {"detail": "No fields to update"})
    assert (await client.put(f"/api/inventory/{product_id}")).status_code == 400
    item = (
        await client.put(
            f"/api/inventory/{product_id}", json={"quantity": 41, "product_name": None, "x": 1}
        )
    ).json()
    assert (item["product_name"], item["quantity"]) == ("iPhone 16", 41)


async def test_put_cannot_drop_quantity_below_reserved(client, product_id) -> None:
    await _create(client, product_id, 10)
    reservation = {
        "reservation_id": str(uuid.uuid4()),
        "items": [{"product_id": product_id, "quantity": 6}],
    }
    assert (await client.post("/api/inventory/reservations", json=reservation)).status_code == 201
    reply = await client.put(f"/api/inventory/{product_id}", json={"quantity": 5})
    assert reply.status_code == 400
    assert "6 units are reserved" in reply.json()["detail"]


async def test_delete_answers_message_then_404(client, product_id) -> None:
    await _create(client, product_id, 1)
    reply = await client.delete(f"/api/inventory/{product_id}")
    assert reply.status_code == 200
    assert reply.json() == {"message": f"Inventory for product {product_id} deleted successfully"}
    assert (await client.get(f"/api/inventory/{product_id}")).status_code == 404
    assert (await client.delete(f"/api/inventory/{product_id}")).status_code == 404


async def test_bad_input_gets_clear_4xx(client) -> None:
    cases = [
        {"product_id": "", "product_name": "x", "quantity": 1},
        {"product_id": "p", "product_name": "x", "quantity": -1},
        {"product_id": "p", "product_name": "nul\x00byte", "quantity": 1},
        {"product_id": "has space", "product_name": "x", "quantity": 1},
        {"product_id": "p", "product_name": "x", "quantity": 10**12},
    ]
    for body in cases:
        reply = await client.post("/api/inventory", json=body)
        assert reply.status_code == 422, body
        assert isinstance(reply.json()["detail"], list)
    assert (await client.post("/api/inventory", content=b"{not json")).status_code == 422


async def test_health_and_ready_report_up(client) -> None:
    assert (await client.get("/health")).json()["status"] == "UP"
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["status"] == "UP"
