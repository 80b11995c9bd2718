"""Events in (`product-updated`, `order-placed`) and out (`ai-notification-ready`).
An order-placed updates the "bought together" counts, then becomes a follow-up email."""

import uuid

import structlog

from ai_service.catalog import CatalogIndex, Product
from ai_service.service import AssistantService
from chassis.events import CloudEvent
from chassis.kafka import EventProducer
from contracts import AI_NOTIFICATION_READY, ORDER_PLACED, PRODUCT_UPDATED, AiNotificationReady

log = structlog.get_logger(__name__)

# Ids of the events we publish are derived from the event that caused them, so publishing
# twice (a crash after publish, before the dedup mark) is one event id for the consumers.
FOLLOW_UP_NAMESPACE = uuid.UUID("0b7f9a52-58a4-4c8e-8a51-3d54a2f3c1e7")


def follow_up_event_id(source_event_id: str) -> str:
    return str(uuid.uuid5(FOLLOW_UP_NAMESPACE, f"ai-notification-ready:{source_event_id}"))


def apply_product_event(catalog: CatalogIndex, event: CloudEvent) -> bool:
    """Apply one product-updated event; False when it was older than what the index holds."""
    change = PRODUCT_UPDATED.parse(event.data)
    if change.op == "delete":
        applied = catalog.delete(change.product_id, change.version)
    else:
        if change.product is None:
            raise ValueError("upsert without a product document")
        document = {**change.product.model_dump(), "id": change.product.id or change.product_id}
        applied = catalog.upsert(Product.from_document(document, version=change.version))
    log.info(
        "catalog.event",
        op=change.op,
        product_id=change.product_id,
        version=change.version,
        applied=applied,
    )
    return applied


class FollowUpWriter:
    """order-placed -> a personalised email -> ai-notification-ready (through the producer)."""

    def __init__(
        self, assistant: AssistantService, producer: EventProducer, *, topic: str, source: str
    ) -> None:
        self.assistant = assistant
        self.producer = producer
        self.topic = topic
        self.source = source

    async def handle(self, event: CloudEvent) -> None:
        order = ORDER_PLACED.parse(event.data)
        order_id = str(order.order_id)
        # "Bought together" first: counted once per event id, whatever is redelivered.
        counted, email, generated_by = await self.assistant.order_follow_up(
            event.id,
            order.customer_name,
            order.order_number,
            [(item.product_id, item.product_name) for item in order.items],
        )
        log.info("ai.order_counted", order_number=order.order_number, counted=counted)
        out = AI_NOTIFICATION_READY.event(
            AiNotificationReady(
                order_number=order.order_number,
                customer_email=order.customer_email,
                subject=email.subject,
                body_html=email.body_html,
                body_text=email.body_text,
            ),
            source=self.source,
            subject=order_id,
            event_type=self.topic,
        ).model_copy(update={"id": follow_up_event_id(event.id)})
        await self.producer.publish(self.topic, out, key=order_id)
        log.info(
            "ai.follow_up_published",
            order_number=order.order_number,
            event_id=out.id,
            generated_by=generated_by,
        )
