"""Crashes inside the placement saga leave no oversold stock and no stock held forever.

Each test breaks one step on purpose and checks the recovery path that README.md names for it."""

import asyncio
import uuid

import httpx
import pytest

from order_service import service as service_module
from order_service.repository import OrderPlacement
from order_service.service import OrderService

from .conftest import StockFactory, order_body, wait_for


async def _item(inventory: httpx.AsyncClient, product_id: str) -> dict[str, int]:
    return dict((await inventory.get(f"/api/inventory/{product_id}")).json())


async def _reservation_status(inventory: httpx.AsyncClient, order_id: str) -> str:
    reply = await inventory.get(f"/api/inventory/reservations/{order_id}")
    return str(reply.json()["status"]) if reply.status_code == 200 else "NONE"


def _capture_order_ids(monkeypatch: pytest.MonkeyPatch, service: OrderService) -> list[str]:
    """Records the reservation ids (= order ids) the saga sends to inventory."""
    seen: list[str] = []
    original = service.inventory.reserve

    async def spy(reservation_id: uuid.UUID, *args: object, **kwargs: object) -> object:
        seen.append(str(reservation_id))
        return await original(reservation_id, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service.inventory, "reserve", spy)
    return seen


async def _database_fails(*args: object, **kwargs: object) -> None:
    raise ConnectionError("database went away")


async def test_failed_order_transaction_releases_the_reservation(
    client: httpx.AsyncClient,
    inventory: httpx.AsyncClient,
    stock: StockFactory,
    order_service: OrderService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = order_service
    product_id = await stock(5)
    ids = _capture_order_ids(monkeypatch, service)
    monkeypatch.setattr(OrderPlacement, "insert_order", _database_fails)
    # The database going away is a 503 with a sentence (chassis.dependencies), not a 500.
    reply = await client.post("/api/orders", json=order_body(product_id, 2))
    assert reply.status_code == 503
    assert await _reservation_status(inventory, ids[0]) == "RELEASED"
    assert (await _item(inventory, product_id))["available_qty"] == 5


async def test_crash_before_commit_is_covered_by_reservation_expiry(
    client: httpx.AsyncClient,
    inventory: httpx.AsyncClient,
    stock: StockFactory,
    order_service: OrderService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The process "dies" after reserving: no commit and no release call ever happens.
    service = order_service
    product_id = await stock(5)
    ids = _capture_order_ids(monkeypatch, service)
    monkeypatch.setattr(service.settings, "order_reservation_ttl_seconds", 1)
    monkeypatch.setattr(OrderPlacement, "insert_order", _database_fails)

    async def crashed(reservation_id: uuid.UUID) -> None:
        raise ConnectionError("process died")

    monkeypatch.setattr(service.inventory, "release", crashed)
    reply = await client.post("/api/orders", json=order_body(product_id, 3))
    assert reply.status_code == 503
    assert (await _item(inventory, product_id))["available_qty"] == 2

    async def expired() -> bool:
        return await _reservation_status(inventory, ids[0]) == "EXPIRED"

    await wait_for(expired, within=10)
    assert (await _item(inventory, product_id))["available_qty"] == 5


async def test_crash_after_commit_before_confirm_is_confirmed_by_the_event(
    client: httpx.AsyncClient,
    inventory: httpx.AsyncClient,
    stock: StockFactory,
    order_service: OrderService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = order_service
    product_id = await stock(5)
    monkeypatch.setattr(service.settings, "order_reservation_ttl_seconds", 3)

    async def never_confirmed(reservation_id: uuid.UUID) -> None:
        raise ConnectionError("process died before confirming")

    monkeypatch.setattr(service.inventory, "confirm", never_confirmed)
    reply = await client.post("/api/orders", json=order_body(product_id, 2))
    assert reply.status_code == 201
    order_id = reply.json()["id"]

    async def confirmed() -> bool:
        return await _reservation_status(inventory, order_id) == "CONFIRMED"

    # inventory-service consumes order-placed (published by the outbox relay) and confirms.
    await wait_for(confirmed, within=15)
    await asyncio.sleep(3.5)  # past the TTL: a confirmed hold never expires
    assert await _reservation_status(inventory, order_id) == "CONFIRMED"
    assert (await _item(inventory, product_id))["reserved_qty"] == 2


async def test_a_taken_order_number_is_drawn_again_in_a_new_transaction(
    client: httpx.AsyncClient,
    inventory: httpx.AsyncClient,
    stock: StockFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The repository names the clash (OrderNumberTaken, from the unique constraint); the
    service retries the whole transaction with a new number, and the order is placed once."""
    product_id = await stock(5)
    first = await client.post("/api/orders", json=order_body(product_id, 1))
    assert first.status_code == 201, first.text
    taken = first.json()["order_number"]
    fresh = service_module.new_order_number()
    numbers = iter([taken, taken, fresh])
    monkeypatch.setattr(service_module, "new_order_number", lambda: next(numbers))
    reply = await client.post("/api/orders", json=order_body(product_id, 2))
    assert reply.status_code == 201, reply.text
    assert reply.json()["order_number"] == fresh
    assert next(numbers, None) is None  # two clashes, then the third number
    assert (await _item(inventory, product_id))["reserved_qty"] == 3
