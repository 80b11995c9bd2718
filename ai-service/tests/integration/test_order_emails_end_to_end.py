"""The fleet path of one order's emails, with nothing stood in: notification-service and
ai-service run as uvicorn processes on real Redis, the real broker and the aiosmtpd sink.
An order-placed delivered three times yields exactly one confirmation and exactly one
AI follow-up email."""

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from chassis.events import new_event
from chassis.kafka import EventProducer
from devstack import start_service
from devstack.asyncbridge import run_sync
from devstack.provisioning import create_topics
from devstack.services import free_port

from .conftest import order_data, wait_for


@dataclass(frozen=True)
class Fleet:
    placed: str
    cancelled: str


@pytest.fixture(scope="module")
def fleet(local_redis: str, local_kafka: str, local_smtp) -> Iterator[Fleet]:
    suffix = uuid.uuid4().hex[:8]
    placed, cancelled = f"order-placed-e2e-{suffix}", f"order-cancelled-e2e-{suffix}"
    low, ai_ready = f"inventory-low-e2e-{suffix}", f"ai-notification-ready-e2e-{suffix}"
    products = f"product-updated-e2e-{suffix}"
    names = [placed, cancelled, low, ai_ready, products]
    run_sync(
        create_topics(local_kafka, {**{n: 3 for n in names}, **{f"{n}.dlq": 1 for n in names}})
    )
    shared = {
        "REDIS_URL": local_redis,
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        "TOPIC_ORDER_PLACED": placed,
        "TOPIC_AI_NOTIFICATION_READY": ai_ready,
        "LOG_LEVEL": "WARNING",
    }
    notification_env = {
        **shared,
        "SMTP_HOST": local_smtp.host,
        "SMTP_PORT": str(local_smtp.port),
        "TOPIC_ORDER_CANCELLED": cancelled,
        "TOPIC_INVENTORY_LOW": low,
        "REDIS_KEY_PREFIX": f"notification-e2e-{suffix}",
        "CONSUMER_GROUP": f"notification-e2e-{suffix}",
    }
    ai_env = {
        **shared,
        "TOPIC_PRODUCT_UPDATED": products,
        "PRODUCT_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
        "REDIS_KEY_PREFIX": f"ai-e2e-{suffix}",
        "CONSUMER_GROUP": f"ai-e2e-{suffix}",
    }
    with (
        start_service("notification-service", env=notification_env, profile="test"),
        start_service("ai-service", env=ai_env, profile="test"),
    ):
        yield Fleet(placed, cancelled)


async def test_one_order_placed_delivered_three_times_sends_exactly_two_emails(
    fleet: Fleet,
    local_kafka: str,
    local_smtp,
) -> None:
    email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
    data = order_data(email, "ORD-20261125-E2E00001")
    event = new_event(fleet.placed, "order-service", data["order_id"], data)
    producer = EventProducer(local_kafka)
    try:
        for _ in range(3):  # at-least-once: the same event id arrives three times
            await producer.publish(fleet.placed, event)
    finally:
        await producer.stop()

    async def both_arrived() -> bool:
        return len(local_smtp.messages(to=email)) >= 2

    await wait_for(both_arrived, within=60)
    await asyncio.sleep(3.0)  # room for any duplicate to arrive
    mails = local_smtp.messages(to=email)
    kinds = sorted(str(m.message["X-Notification-Kind"]) for m in mails)
    assert kinds == ["ai-follow-up", "order-confirmation"], [m.subject for m in mails]
    by_kind = {str(m.message["X-Notification-Kind"]): m for m in mails}
    confirmation = by_kind["order-confirmation"]
    assert confirmation.subject == "Order confirmed: ORD-20261125-E2E00001"
    assert "$999.99" in confirmation.body("html")
    follow_up = by_kind["ai-follow-up"]
    assert follow_up.subject == "Yash, thanks for your order ORD-20261125-E2E00001"
    assert "not written by a language model" in follow_up.body("plain")
    assert "<p>" in follow_up.body("html")
