"""Business rules that need no database: low-stock crossing, order-event parsing."""

import uuid
from typing import Any

import pytest

from chassis.events import new_event
from inventory_service import service as service_module
from inventory_service.config import Settings
from inventory_service.service import InventoryService, _order_id


class RecordingSession:
    """Stands in for AsyncSession; enqueue() is replaced, so nothing touches it."""


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []

    async def fake_enqueue(
        session: Any, table: Any, topic: str, event: Any, key: str | None = None
    ) -> None:
        calls.append((topic, event, key))

    monkeypatch.setattr(service_module, "enqueue", fake_enqueue)
    return calls


def _row(quantity: int, reserved: int, threshold: int = 10) -> dict[str, Any]:
    return {
        "product_id": "p1",
        "product_name": "Lamp",
        "quantity": quantity,
        "reserved_qty": reserved,
        "low_stock_threshold": threshold,
    }


@pytest.mark.parametrize(
    ("before", "after", "alerts"),
    [(12, 10, 0), (10, 9, 1), (9, 8, 0), (30, 0, 1), (5, 15, 0)],
)
async def test_low_stock_alert_only_when_available_crosses_below_threshold(
    enqueued: list[Any], before: int, after: int, alerts: int
) -> None:
    service = InventoryService(sessions=None, settings=Settings())  # type: ignore[arg-type]
    await service._alert_if_low(RecordingSession(), _row(after, 0), previous_available=before)  # type: ignore[arg-type]
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


async def test_reserved_units_count_against_available_for_alerts(enqueued: list[Any]) -> None:
    service = InventoryService(sessions=None, settings=Settings())  # type: ignore[arg-type]
    await service._alert_if_low(RecordingSession(), _row(20, 11), previous_available=10)  # type: ignore[arg-type]
    assert len(enqueued) == 1
    assert enqueued[0][1].data["available_qty"] == 9


def test_order_id_comes_from_data_or_subject() -> None:
    oid = uuid.uuid4()
    assert _order_id(new_event("order-cancelled", "t", "x", {"order_id": str(oid)})) == oid
    assert _order_id(new_event("order-cancelled", "t", str(oid), {})) == oid
    assert _order_id(new_event("order-cancelled", "t", "not-a-uuid", {})) is None
