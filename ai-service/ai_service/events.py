"""Events in (`product-updated`, `order-placed`) and out (`ai-notification-ready`).
An order-placed updates the "bought together" counts, then becomes a follow-up email."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field

from ai_service.catalog import CatalogIndex, Product
from ai_service.service import AssistantService
from chassis.events import CloudEvent, to_json_ready
from chassis.kafka import EventProducer

log = structlog.get_logger(__name__)

# Ids of the events we publish are derived from the event that caused them, so publishing
# twice (a crash after publish, before the dedup mark) is one event id for the consumers.
FOLLOW_UP_NAMESPACE = uuid.UUID("0b7f9a52-58a4-4c8e-8a51-3d54a2f3c1e7")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ProductUpdated(_Payload):
    op: Literal["upsert", "delete"]
    product_id: str = Field(min_length=1)
    version: int = Field(ge=0)
    product: dict[str, Any] | None = None


class OrderItem(_Payload):
    product_id: str
    product_name: str
    quantity: int = Field(ge=1)
    unit_price: Decimal


class OrderPlaced(_Payload):
    order_id: str
    order_number: str
    customer_name: str
    customer_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)
    total_amount: Decimal
    items: list[OrderItem] = Field(default_factory=list)


def follow_up_event_id(source_event_id: str) -> str:
    return str(uuid.uuid5(FOLLOW_UP_NAMESPACE, f"ai-notification-ready:{source_event_id}"))


def apply_product_event(catalog: CatalogIndex, event: CloudEvent) -> bool:
    """Apply one product-updated event; False when it was older than what the index holds."""
    change = ProductUpdated.model_validate(event.data)
    if change.op == "delete":
        applied = catalog.delete(change.product_id, change.version)
    else:
        if change.product is None:
            raise ValueError("upsert without a product document")
        document = {**change.product, "id": change.product.get("id") or change.product_id}
        applied = catalog.upsert(Product.from_document(document, version=change.version))
    log.info("catalog.event", op=change.op, product_id=change.product_id,
             version=change.version, applied=applied)
    return applied


class FollowUpWriter:
    """order-placed -> a personalised email -> ai-notification-ready (through the producer)."""

    def __init__(self, assistant: AssistantService, producer: EventProducer, *,
                 topic: str, source: str) -> None:
        self.assistant = assistant
        self.producer = producer
        self.topic = topic
        self.source = source

    async def handle(self, event: CloudEvent) -> None:
        order = OrderPlaced.model_validate(event.data)
        # "Bought together" first: counted once per event id, whatever is redelivered.
        counted = await self.assistant.record_order(
            event.id, [item.product_id for item in order.items])
        log.info("ai.order_counted", order_number=order.order_number, counted=counted)
        email, generated_by = await self.assistant.follow_up_email(
            order.customer_name, order.order_number,
            [(item.product_id, item.product_name) for item in order.items],
        )
        out = CloudEvent(
            id=follow_up_event_id(event.id),
            type=self.topic,
            source=self.source,
            time=datetime.now(UTC),
            subject=order.order_id,
            data=to_json_ready({
                "order_number": order.order_number,
                "customer_email": order.customer_email,
                "subject": email.subject,
                "body_html": email.body_html,
                "body_text": email.body_text,
            }),
        )
        await self.producer.publish(self.topic, out, key=order.order_id)
        log.info("ai.follow_up_published", order_number=order.order_number, event_id=out.id,
                 generated_by=generated_by)
