"""Business rules that need no database: low-stock crossing, order-event parsing."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from chassis.events import decode_event, encode_event, new_event
from contracts import (
    INVENTORY_LOW,
    ORDER_CANCELLED,
    ORDER_PLACED,
    ORDER_STATUS_CHANGED,
    PRODUCT_UPDATED,
)
from inventory_service.config import Settings
from inventory_service.schemas import InventoryItem
from inventory_service.service import InventoryService, order_action, retired_product


class RecordingUnitOfWork:
    """Stands in for the repository's unit of work: records what is written to the outbox."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    async def enqueue(self, topic: str, event: Any, key: str | None = None) -> None:
        self.calls.append((topic, event, key))


@pytest.fixture
def uow() -> RecordingUnitOfWork:
    return RecordingUnitOfWork()


@pytest.fixture
def enqueued(uow: RecordingUnitOfWork) -> list[Any]:
    return uow.calls


def _row(quantity: int, reserved: int, threshold: int = 10) -> InventoryItem:
    now = datetime.now(UTC)
    return InventoryItem(
        id=uuid.uuid4(),
        product_id="p1",
        product_name="Lamp",
        quantity=quantity,
        reserved_qty=reserved,
        available_qty=quantity - reserved,
        low_stock_threshold=threshold,
        created_at=now,
        updated_at=now,
    )


@pytest.mark.parametrize(
    ("before", "after", "alerts"),
    [(12, 10, 0), (10, 9, 1), (9, 8, 0), (30, 0, 1), (5, 15, 0)],
)
async def test_low_stock_alert_only_when_available_crosses_below_threshold(
    uow: RecordingUnitOfWork, enqueued: list[Any], before: int, after: int, alerts: int
) -> None:
    service = InventoryService(repository=None, settings=Settings())  # type: ignore[arg-type]
    await service._alert_if_low(uow, _row(after, 0), previous_available=before)  # type: ignore[arg-type]
    assert len(enqueued) == alerts
    if alerts:
        topic, event, key = enqueued[0]
        assert (topic, key) == ("inventory-low", "p1")
        assert event.data == {
            "product_id": "p1",
            "product_name": "Lamp",
            "available_qty": after,
            "threshold": 10,
        }


async def test_reserved_units_count_against_available_for_alerts(
    uow: RecordingUnitOfWork, enqueued: list[Any]
) -> None:
    service = InventoryService(repository=None, settings=Settings())  # type: ignore[arg-type]
    await service._alert_if_low(uow, _row(20, 11), previous_available=10)  # type: ignore[arg-type]
    assert len(enqueued) == 1
    assert enqueued[0][1].data["available_qty"] == 9


def test_order_events_are_read_with_their_contract() -> None:
    settings = Settings()
    oid = uuid.uuid4()
    data = {**ORDER_CANCELLED.examples[0], "order_id": str(oid)}
    assert order_action(new_event("order-cancelled", "t", "x", data), settings) == (oid, "release")
    shipped = {**ORDER_STATUS_CHANGED.examples[0], "order_id": str(oid), "to": "SHIPPED"}
    assert order_action(new_event("order-status-changed", "t", None, shipped), settings) == (
        oid,
        "ship",
    )
    delivered = {**shipped, "from": "SHIPPED", "to": "DELIVERED"}
    assert order_action(new_event("order-status-changed", "t", None, delivered), settings) is None
    # Data that breaks the contract raises (the consumer dead-letters it after its retries).
    with pytest.raises(ValidationError):
        order_action(new_event("order-cancelled", "t", str(oid), {}), settings)


@pytest.mark.parametrize(
    "contract", [ORDER_PLACED, ORDER_CANCELLED, ORDER_STATUS_CHANGED], ids=lambda c: c.name
)
def test_consumer_accepts_every_example_of_the_contract(contract: Any) -> None:
    """Contract test (consumer side): every example the contract publishes is accepted."""
    for example in contract.examples:
        event = decode_event(encode_event(new_event(contract.name, "order-service", None, example)))
        assert order_action(event, Settings()) is not None


def test_product_deletions_are_read_with_their_contract() -> None:
    """Contract test (consumer side): every product-updated example is accepted; only a
    delete retires a stock row; data that breaks the contract raises."""
    for example in PRODUCT_UPDATED.examples:
        event = decode_event(
            encode_event(new_event(PRODUCT_UPDATED.name, "product-service", None, example))
        )
        expected = example["product_id"] if example["op"] == "delete" else None
        assert retired_product(event) == expected
    with pytest.raises(ValidationError):
        retired_product(new_event(PRODUCT_UPDATED.name, "product-service", None, {"op": "delete"}))


async def test_inventory_low_follows_its_contract(
    uow: RecordingUnitOfWork, enqueued: list[Any]
) -> None:
    """Contract test (producer side): the alert inventory-service writes parses with the
    model notification-service reads it with."""
    service = InventoryService(repository=None, settings=Settings())  # type: ignore[arg-type]
    await service._alert_if_low(uow, _row(20, 11), previous_available=10)  # type: ignore[arg-type]
    event = decode_event(encode_event(enqueued[0][1]))
    assert event.dataschema == INVENTORY_LOW.dataschema
    low = INVENTORY_LOW.parse(event.data)
    assert (low.available_qty, low.threshold) == (9, 10)
