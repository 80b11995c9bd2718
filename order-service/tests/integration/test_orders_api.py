"""The seed contract end to end: order-service in process, inventory-service running for real."""

import re
import uuid

import httpx

from .conftest import StockFactory, order_body, wait_for


async def _item(inventory: httpx.AsyncClient, product_id: str) -> dict[str, int]:
    return dict((await inventory.get(f"/api/inventory/{product_id}")).json())


async def test_placed_order_is_confirmed_with_exact_money_and_stock_reserved(
    client: httpx.AsyncClient, inventory: httpx.AsyncClient, stock: StockFactory
) -> None:
    product_id = await stock(10)
    reply = await client.post("/api/orders", json=order_body(product_id, 2, 999.99))
    assert reply.status_code == 201, reply.text
    assert '"total_amount":1999.98' in reply.text
    assert '"unit_price":999.99' in reply.text
    order = reply.json()
    assert order["status"] == "CONFIRMED"
    assert re.fullmatch(r"ORD-\d{8}-[A-Z0-9]{8}", order["order_number"])
    assert order["total_amount"] == 1999.98
    assert order["items"][0]["total_price"] == 1999.98
    assert order["items"][0]["quantity"] == 2

    item = await _item(inventory, product_id)
    assert (item["available_qty"], item["reserved_qty"]) == (8, 2)

    # Step 3 (confirm) runs after the reply.
    async def confirmed() -> bool:
        reply = await inventory.get(f"/api/inventory/reservations/{order['id']}")
        return bool(reply.json()["status"] == "CONFIRMED")

    await wait_for(confirmed, within=10)

    fetched = await client.get(f"/api/orders/{order['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == order


async def test_whole_amounts_render_with_two_decimals(
    client: httpx.AsyncClient, stock: StockFactory
) -> None:
    product_id = await stock(5)
    reply = await client.post("/api/orders", json=order_body(product_id, 3, "10"))
    assert reply.status_code == 201, reply.text
    assert '"total_amount":30.00' in reply.text


async def test_insufficient_stock_is_400_naming_the_product_and_holds_nothing(
    client: httpx.AsyncClient, inventory: httpx.AsyncClient, stock: StockFactory
) -> None:
    product_id = await stock(1, name="Last Lamp")
    email = f"short-{uuid.uuid4().hex[:6]}@example.com"
    reply = await client.post("/api/orders", json=order_body(product_id, 2, email=email))
    assert reply.status_code == 400
    assert reply.json() == {"detail": "Insufficient stock for product: Last Lamp"}
    assert (await client.get(f"/api/orders/user/{email}")).json() == []
    item = await _item(inventory, product_id)
    assert (item["available_qty"], item["reserved_qty"]) == (1, 0)


async def test_multi_item_order_is_all_or_nothing(
    client: httpx.AsyncClient, inventory: httpx.AsyncClient, stock: StockFactory
) -> None:
    plenty, scarce = await stock(10), await stock(1, name="Rare Thing")
    body = order_body(plenty, 1)
    body["items"].append(  # type: ignore[attr-defined]
        {"product_id": scarce, "product_name": "Rare Thing", "quantity": 2, "unit_price": 5}
    )
    reply = await client.post("/api/orders", json=body)
    assert reply.json() == {"detail": "Insufficient stock for product: Rare Thing"}
    assert (await _item(inventory, plenty))["reserved_qty"] == 0


async def test_unknown_product_is_404(client: httpx.AsyncClient) -> None:
    reply = await client.post("/api/orders", json=order_body(f"ghost-{uuid.uuid4().hex[:6]}"))
    assert reply.status_code == 404
    assert "not found" in reply.json()["detail"]


async def test_invalid_bodies_are_422(client: httpx.AsyncClient, stock: StockFactory) -> None:
    product_id = await stock(5)
    bad = [
        {**order_body(product_id), "items": []},
        {**order_body(product_id), "customer_email": "nobody"},
        order_body(product_id, quantity=0),
        order_body(product_id, unit_price=0),
        order_body(product_id, unit_price=-1),
    ]
    for body in bad:
        reply = await client.post("/api/orders", json=body)
        assert reply.status_code == 422, body
        assert isinstance(reply.json()["detail"], list)


async def test_a_large_quantity_reaches_the_stock_rule_and_extra_fields_are_ignored(
    client: httpx.AsyncClient, stock: StockFactory
) -> None:
    product_id = await stock(5)
    body = order_body(product_id, quantity=50_000)
    body["coupon"] = "ignored"
    body["items"][0]["gift_wrap"] = True
    reply = await client.post("/api/orders", json=body)
    assert reply.status_code == 400
    assert reply.json()["detail"].startswith("Insufficient stock for product: ")
    ok = await client.post("/api/orders", json={**order_body(product_id, 1), "coupon": "x"})
    assert ok.status_code == 201


async def test_malformed_id_is_400_and_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    reply = await client.get("/api/orders/not-a-uuid")
    assert reply.status_code == 400
    assert "is not a UUID" in reply.json()["detail"]
    unknown = uuid.uuid4()
    reply = await client.get(f"/api/orders/{unknown}")
    assert reply.status_code == 404
    assert reply.json() == {"detail": f"Order not found: {unknown}"}
    assert (await client.patch("/api/orders/xyz/cancel")).status_code == 400
    assert (await client.patch(f"/api/orders/{unknown}/cancel")).status_code == 404


async def test_customer_orders_are_newest_first_and_paginated(
    client: httpx.AsyncClient, stock: StockFactory
) -> None:
    product_id = await stock(10)
    email = f"Many-{uuid.uuid4().hex[:6]}@Example.com"
    placed = []
    for _ in range(3):
        reply = await client.post("/api/orders", json=order_body(product_id, 1, email=email))
        assert reply.status_code == 201
        placed.append(reply.json()["id"])
    listed = (await client.get(f"/api/orders/user/{email.lower()}")).json()
    assert isinstance(listed, list)
    assert [o["id"] for o in listed] == placed[::-1]
    reply = await client.get(f"/api/orders/user/{email}", params={"limit": 1, "offset": 1})
    assert [o["id"] for o in reply.json()] == [placed[1]]
    assert reply.headers["x-total-count"] == "3"
    assert 'limit=1&offset=2>; rel="next"' in reply.headers["link"]
    assert 'limit=1&offset=0>; rel="prev"' in reply.headers["link"]
    everyone = await client.get("/api/orders", params={"limit": 2})
    assert everyone.status_code == 200
    assert len(everyone.json()) == 2
    assert int(everyone.headers["x-total-count"]) >= 3
    assert '</api/orders?limit=2&offset=2>; rel="next"' in everyone.headers["link"]
    assert (await client.get("/api/orders", params={"limit": 501})).status_code == 422
    assert (await client.get("/api/orders/user/not-an-email")).status_code == 400


async def test_orders_page_with_page_and_page_size_too(
    client: httpx.AsyncClient, stock: StockFactory
) -> None:
    """The fleet's one naming (docs/api.md): page/page_size, links in the same names."""
    product_id = await stock(10)
    email = f"paged-{uuid.uuid4().hex[:6]}@example.com"
    placed = []
    for _ in range(3):
        reply = await client.post("/api/orders", json=order_body(product_id, 1, email=email))
        placed.append(reply.json()["id"])
    reply = await client.get(f"/api/orders/user/{email}", params={"page": 2, "page_size": 1})
    assert [o["id"] for o in reply.json()] == [placed[1]]
    assert reply.headers["x-total-count"] == "3"
    assert f'/api/orders/user/{email}?page=3&page_size=1>; rel="next"' in reply.headers["link"]
    assert f'/api/orders/user/{email}?page=1&page_size=1>; rel="prev"' in reply.headers["link"]
    both = await client.get(f"/api/orders/user/{email}", params={"page": 2, "offset": 1})
    assert both.status_code == 422
    assert both.json()["detail"][0]["loc"] == ["query", "offset"]
    bad_id = await client.get("/api/orders/not-a-uuid")
    assert (bad_id.status_code, bad_id.json()) == (
        400,
        {"detail": "Invalid order id: 'not-a-uuid' is not a UUID"},
    )


async def test_status_moves_only_forward_and_shipping_commits_the_stock(
    client: httpx.AsyncClient, inventory: httpx.AsyncClient, stock: StockFactory
) -> None:
    product_id = await stock(5)
    order = (await client.post("/api/orders", json=order_body(product_id, 2))).json()
    url = f"/api/orders/{order['id']}"

    back = await client.patch(f"{url}/status", json={"status": "PENDING"})
    assert back.status_code == 400
    assert back.json()["detail"] == "Cannot change order status from CONFIRMED to PENDING"
    skip = await client.patch(f"{url}/status", json={"status": "DELIVERED"})
    assert skip.status_code == 400

    shipped = await client.patch(f"{url}/status", json={"status": "SHIPPED"})
    assert shipped.status_code == 200
    assert shipped.json()["status"] == "SHIPPED"
    cancel = await client.patch(f"{url}/cancel")
    assert cancel.status_code == 400
    assert cancel.json() == {"detail": "Cannot cancel order with status SHIPPED"}

    async def committed() -> bool:
        item = await _item(inventory, product_id)
        return (item["quantity"], item["reserved_qty"]) == (3, 0)

    await wait_for(committed)  # inventory consumed order-status-changed {to: SHIPPED}

    delivered = await client.patch(f"{url}/status", json={"status": "DELIVERED"})
    assert delivered.json()["status"] == "DELIVERED"
    cancel = await client.patch(f"{url}/cancel")
    assert cancel.json() == {"detail": "Cannot cancel order with status DELIVERED"}
    bogus = await client.patch(f"{url}/status", json={"status": "LOST"})
    assert bogus.status_code == 422


async def test_cancel_gives_the_stock_back(
    client: httpx.AsyncClient, inventory: httpx.AsyncClient, stock: StockFactory
) -> None:
    product_id = await stock(5)
    order = (await client.post("/api/orders", json=order_body(product_id, 4))).json()
    assert (await _item(inventory, product_id))["available_qty"] == 1
    cancelled = await client.patch(f"/api/orders/{order['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "CANCELLED"

    async def released() -> bool:
        return (await _item(inventory, product_id))["available_qty"] == 5

    await wait_for(released)  # inventory consumed order-cancelled
    # Cancelling again is a 200 no-op, as in the original design (no second event: see
    # test_events.py); the stock is not given back twice.
    again = await client.patch(f"/api/orders/{order['id']}/cancel")
    assert (again.status_code, again.json()) == (200, cancelled.json())
    assert (await _item(inventory, product_id))["available_qty"] == 5


async def test_ready_checks_the_database_the_components_registered(
    client: httpx.AsyncClient,
) -> None:
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"]["status"] == "UP"
