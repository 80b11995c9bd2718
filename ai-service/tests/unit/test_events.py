from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ai_service.catalog import CatalogIndex
from ai_service.config import Settings
from ai_service.events import FollowUpWriter, apply_product_event, follow_up_event_id
from ai_service.service import AssistantService
from chassis.events import CloudEvent, decode_event, encode_event, new_event
from contracts import AI_NOTIFICATION_READY, ORDER_PLACED, PRODUCT_UPDATED

from .catalog_fixture import sample_catalog

ORDER_ID = "5b0f8a51-1d1c-4a55-9a4f-0f3c1d2e3a4b"


def _product_event(op: str, version: int, name: str = "Lamp") -> CloudEvent:
    data: dict[str, Any] = {"op": op, "product_id": "p-lamp", "version": version}
    if op == "upsert":
        data["product"] = {
            "id": "p-lamp",
            "name": name,
            "description": "Desk lamp",
            "price": Decimal("19.99"),
            "category": "Home",
            "tags": ["lamp"],
            "stock_quantity": 4,
            "image_url": None,
            "version": version,
        }
    # Through the real envelope: money arrives as Decimal, as from the broker.
    return decode_event(
        encode_event(new_event("product-updated", "product-service", "p-lamp", data))
    )


def test_product_events_apply_in_version_order_only() -> None:
    catalog = CatalogIndex()
    assert apply_product_event(catalog, _product_event("upsert", 2, "Lamp v2"))
    assert not apply_product_event(catalog, _product_event("upsert", 1, "Lamp v1"))
    lamp = catalog.get("p-lamp")
    assert lamp is not None
    assert (lamp.name, lamp.price, lamp.version) == ("Lamp v2", Decimal("19.99"), 2)
    assert apply_product_event(catalog, _product_event("delete", 3))
    assert catalog.get("p-lamp") is None
    assert not apply_product_event(catalog, _product_event("upsert", 2, "Lamp v2"))


def test_a_bad_product_event_raises_for_the_dead_letter_topic() -> None:
    with pytest.raises(ValidationError):
        apply_product_event(
            CatalogIndex(),
            new_event(
                "product-updated", "p", "x", {"op": "rename", "product_id": "x", "version": 1}
            ),
        )
    with pytest.raises(ValueError, match="without a product"):
        apply_product_event(
            CatalogIndex(),
            new_event(
                "product-updated", "p", "x", {"op": "upsert", "product_id": "x", "version": 1}
            ),
        )


class RecordingProducer:
    def __init__(self) -> None:
        self.published: list[tuple[str, CloudEvent, str | None]] = []

    async def publish(self, topic: str, event: CloudEvent, key: str | None = None) -> None:
        self.published.append((topic, event, key))


async def test_order_placed_becomes_one_ai_notification_with_a_derived_id() -> None:
    producer = RecordingProducer()
    writer = FollowUpWriter(
        AssistantService(sample_catalog(), None, Settings()),
        producer,
        topic="ai-notification-ready",
        source="ai-service",
    )  # type: ignore[arg-type]
    placed = new_event(
        "order-placed",
        "order-service",
        ORDER_ID,
        {
            "order_id": ORDER_ID,
            "order_number": "ORD-20261125-0000AAAA",
            "customer_name": "Ann Lee",
            "customer_email": "ann@example.com",
            "total_amount": Decimal("999.99"),
            "items": [
                {
                    "product_id": "p-phone",
                    "product_name": "iPhone 15 Pro",
                    "quantity": 1,
                    "unit_price": Decimal("999.99"),
                }
            ],
        },
    )
    await writer.handle(placed)
    await writer.handle(placed)  # a redelivery that got past the dedup mark
    [(topic, first, key), (_, second, _)] = producer.published
    assert topic == "ai-notification-ready"
    assert key == ORDER_ID
    assert first.id == second.id == follow_up_event_id(placed.id)
    assert first.id != placed.id
    assert first.data["order_number"] == "ORD-20261125-0000AAAA"
    assert first.data["customer_email"] == "ann@example.com"
    assert first.data["subject"].startswith("Ann, thanks for your order")
    assert "<p>" in first.data["body_html"]
    assert first.data["body_text"]

    # Contract test (producer side): notification-service reads this with the same model.
    wire = decode_event(encode_event(first))
    assert wire.dataschema == AI_NOTIFICATION_READY.dataschema
    assert AI_NOTIFICATION_READY.parse(wire.data).customer_email == "ann@example.com"


@pytest.mark.parametrize("example", PRODUCT_UPDATED.examples, ids=lambda e: str(e["op"]))
def test_every_product_updated_example_of_the_contract_is_accepted(
    example: dict[str, Any],
) -> None:
    """Contract test (consumer side): ai-service applies every example the contract holds."""
    catalog = CatalogIndex()
    if example["op"] == "delete":  # a delete needs something older to remove
        upsert = next(e for e in PRODUCT_UPDATED.examples if e["op"] == "upsert")
        apply_product_event(catalog, new_event("product-updated", "p", None, upsert))
    assert apply_product_event(
        catalog,
        decode_event(encode_event(new_event("product-updated", "product-service", None, example))),
    )


async def test_every_order_placed_example_of_the_contract_is_accepted() -> None:
    for example in ORDER_PLACED.examples:
        producer = RecordingProducer()
        writer = FollowUpWriter(
            AssistantService(sample_catalog(), None, Settings()),
            producer,
            topic="ai-notification-ready",
            source="ai-service",
        )  # type: ignore[arg-type]
        await writer.handle(
            decode_event(encode_event(new_event("order-placed", "order-service", None, example)))
        )
        assert len(producer.published) == 1
