"""Reservations: all or nothing, idempotent by id, confirm/release, expiry gives stock back,
and concurrency can never oversell."""

import asyncio
import uuid

import httpx

from inventory_service.config import Settings


async def _stock(
    client: httpx.AsyncClient, product_id: str, quantity: int, name: str = "Widget"
) -> None:
    reply = await client.post(
        "/api/inventory",
        json={"product_id": product_id, "product_name": name, "quantity": quantity},
    )
    assert reply.status_code == 201, reply.text


async def _item(client: httpx.AsyncClient, product_id: str) -> dict:
    return (await client.get(f"/api/inventory/{product_id}")).json()


def _reservation(*lines: tuple[str, int], ttl: int | None = None) -> dict:
    body: dict = {
        "reservation_id": str(uuid.uuid4()),
        "items": [{"product_id": p, "quantity": q} for p, q in lines],
    }
    if ttl is not None:
        body["ttl_seconds"] = ttl
    return body


async def test_reservation_holds_stock_and_lowers_available(client, product_id) -> None:
    await _stock(client, product_id, 10)
    reply = await client.post("/api/inventory/reservations", json=_reservation((product_id, 4)))
    assert reply.status_code == 201
    assert reply.json()["status"] == "HELD"
    item = await _item(client, product_id)
    assert (item["quantity"], item["reserved_qty"], item["available_qty"]) == (10, 4, 6)


async def test_reservation_is_all_or_nothing_naming_the_short_product(client) -> None:
    plenty, scarce = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    await _stock(client, plenty, 10, "Plenty")
    await _stock(client, scarce, 1, "Scarce Lamp")
    reply = await client.post(
        "/api/inventory/reservations", json=_reservation((plenty, 5), (scarce, 2))
    )
    assert reply.status_code == 400
    assert reply.json() == {"detail": "Insufficient stock for product: Scarce Lamp"}
    assert (await _item(client, plenty))["reserved_qty"] == 0
    assert (await _item(client, scarce))["reserved_qty"] == 0


async def test_reservation_of_unknown_product_is_404(client) -> None:
    reply = await client.post("/api/inventory/reservations", json=_reservation(("ghost-1", 1)))
    assert reply.status_code == 404
    assert reply.json() == {"detail": "Inventory not found for product: ghost-1"}


async def test_retry_with_same_id_returns_first_reservation_without_holding_twice(
    client, product_id
) -> None:
    await _stock(client, product_id, 10)
    body = _reservation((product_id, 3))
    first = await client.post("/api/inventory/reservations", json=body)
    again = await client.post("/api/inventory/reservations", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["reservation_id"] == first.json()["reservation_id"]
    assert (await _item(client, product_id))["reserved_qty"] == 3


async def test_same_id_with_different_items_is_409(client, product_id) -> None:
    await _stock(client, product_id, 10)
    body = _reservation((product_id, 3))
    await client.post("/api/inventory/reservations", json=body)
    body["items"][0]["quantity"] = 4
    reply = await client.post("/api/inventory/reservations", json=body)
    assert reply.status_code == 409
    assert "already exists with different items" in reply.json()["detail"]


async def test_duplicate_product_lines_and_empty_items_are_422(client, product_id) -> None:
    dup = await client.post(
        "/api/inventory/reservations", json=_reservation((product_id, 1), (product_id, 2))
    )
    assert dup.status_code == 422
    empty = await client.post(
        "/api/inventory/reservations", json={"reservation_id": str(uuid.uuid4()), "items": []}
    )
    assert empty.status_code == 422


async def test_confirm_then_release_gives_stock_back_once(client, product_id) -> None:
    await _stock(client, product_id, 10)
    body = _reservation((product_id, 4))
    rid = body["reservation_id"]
    await client.post("/api/inventory/reservations", json=body)
    confirmed = await client.post(f"/api/inventory/reservations/{rid}/confirm")
    assert confirmed.json()["status"] == "CONFIRMED"
    assert (await client.post(f"/api/inventory/reservations/{rid}/confirm")).status_code == 200
    for _ in range(2):  # release is idempotent
        released = await client.post(f"/api/inventory/reservations/{rid}/release")
        assert released.status_code == 200
        assert released.json()["status"] == "RELEASED"
    item = await _item(client, product_id)
    assert (item["reserved_qty"], item["available_qty"]) == (0, 10)
    late = await client.post(f"/api/inventory/reservations/{rid}/confirm")
    assert late.status_code == 409


async def test_reservation_lookup_errors(client) -> None:
    assert (await client.get("/api/inventory/reservations/not-a-uuid")).status_code == 400
    missing = await client.get(f"/api/inventory/reservations/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("Reservation not found")


async def test_unconfirmed_reservation_expires_and_stock_returns(
    client, product_id, inventory_settings: Settings
) -> None:
    await _stock(client, product_id, 5)
    body = _reservation((product_id, 5), ttl=1)
    rid = body["reservation_id"]
    await client.post("/api/inventory/reservations", json=body)
    assert (await _item(client, product_id))["available_qty"] == 0
    deadline = asyncio.get_running_loop().time() + 10
    while (await _item(client, product_id))["available_qty"] != 5:
        assert asyncio.get_running_loop().time() < deadline, "sweeper never returned the stock"
        await asyncio.sleep(0.2)
    assert (await client.get(f"/api/inventory/reservations/{rid}")).json()["status"] == "EXPIRED"
    late = await client.post(f"/api/inventory/reservations/{rid}/confirm")
    assert late.status_code == 409
    assert "can no longer be confirmed" in late.json()["detail"]


async def test_confirmed_reservation_never_expires(client, product_id) -> None:
    await _stock(client, product_id, 5)
    body = _reservation((product_id, 2), ttl=1)
    await client.post("/api/inventory/reservations", json=body)
    await client.post(f"/api/inventory/reservations/{body['reservation_id']}/confirm")
    await asyncio.sleep(1.6)
    assert (await _item(client, product_id))["reserved_qty"] == 2


async def test_concurrent_reservations_never_oversell(client, product_id) -> None:
    await _stock(client, product_id, 50)
    replies = await asyncio.gather(
        *(
            client.post("/api/inventory/reservations", json=_reservation((product_id, 1)))
            for _ in range(200)
        )
    )
    codes = [r.status_code for r in replies]
    assert codes.count(201) == 50
    assert codes.count(400) == 150
    item = await _item(client, product_id)
    assert (item["reserved_qty"], item["available_qty"]) == (50, 0)


async def test_delete_refused_while_units_are_reserved(client, product_id) -> None:
    await _stock(client, product_id, 5)
    await client.post("/api/inventory/reservations", json=_reservation((product_id, 1)))
    reply = await client.delete(f"/api/inventory/{product_id}")
    assert reply.status_code == 409
    assert "1 units are reserved" in reply.json()["detail"]
