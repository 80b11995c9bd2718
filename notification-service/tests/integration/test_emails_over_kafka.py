"""Events on the real broker become real emails in the SMTP sink, once per event id."""

import asyncio
import uuid
from decimal import Decimal

import httpx
from fastapi import FastAPI

from chassis.events import new_event
from chassis.kafka import EventProducer
from notification_service.config import Settings

from .conftest import Topics, wait_for


def _order_data(email: str, number: str) -> dict[str, object]:
    return {
        "order_id": str(uuid.uuid4()),
        "order_number": number,
        "customer_name": "Yash Vyas",
        "customer_email": email,
        "total_amount": Decimal("1999.98"),
        "items": [
            {
                "product_id": "p1",
                "product_name": "iPhone 15 Pro",
                "quantity": 2,
                "unit_price": Decimal("999.99"),
            }
        ],
    }


def _email() -> str:
    return f"buyer-{uuid.uuid4().hex[:10]}@example.com"


async def test_order_placed_delivered_three_times_sends_one_confirmation(
    notification_app: FastAPI,
    producer: EventProducer,
    topics: Topics,
    local_smtp,
    client: httpx.AsyncClient,
) -> None:
    email = _email()
    data = _order_data(email, "ORD-20261125-AAAA0001")
    event = new_event(topics.placed, "order-service", str(data["order_id"]), data)
    for _ in range(3):
        await producer.publish(topics.placed, event)

    async def arrived() -> bool:
        return len(local_smtp.messages(to=email)) >= 1

    await wait_for(arrived)
    await asyncio.sleep(1.5)  # time for the duplicates to (not) send
    mails = local_smtp.messages(to=email)
    assert len(mails) == 1
    mail = mails[0]
    assert mail.subject == "Order confirmed: ORD-20261125-AAAA0001"
    assert mail.message["Message-ID"] == f"<{event.id}@notification-service>"
    assert "$1,999.98" in mail.body("html")
    assert "<table" in mail.body("html")
    assert "Total: $1,999.98" in mail.body("plain")

    listed = (await client.get("/api/notifications", params={"email": email})).json()
    assert [(n["kind"], n["order_number"], n["event_id"]) for n in listed["notifications"]] == [
        ("order-confirmation", "ORD-20261125-AAAA0001", event.id)
    ]


async def test_cancellation_low_stock_and_ai_follow_up_each_send_their_email(
    notification_app: FastAPI,
    producer: EventProducer,
    topics: Topics,
    local_smtp,
    notification_settings: Settings,
) -> None:
    email = _email()
    data = _order_data(email, "ORD-20261125-BBBB0002")
    await producer.publish(
        topics.cancelled, new_event(topics.cancelled, "order-service", "o", data)
    )
    await producer.publish(
        topics.low,
        new_event(
            topics.low,
            "inventory-service",
            "p9",
            {"product_id": "p9", "product_name": "Desk Lamp", "available_qty": 3, "threshold": 10},
        ),
    )
    await producer.publish(
        topics.ai_ready,
        new_event(
            topics.ai_ready,
            "ai-service",
            "ORD-2",
            {
                "order_number": "ORD-20261125-BBBB0002",
                "customer_email": email,
                "subject": "Accessories for your iPhone",
                "body_html": "<p>Hi <strong>Yash</strong></p><script>alert(1)</script>"
                '<img src="https://t.example/x.gif">',
                "body_text": "Hi Yash",
            },
        ),
    )
    admin = notification_settings.admin_email

    async def arrived() -> bool:
        return len(local_smtp.messages(to=email)) >= 2 and bool(local_smtp.messages(to=admin))

    await wait_for(arrived)
    by_subject = {m.subject: m for m in local_smtp.messages(to=email)}
    assert set(by_subject) == {
        "Order cancelled: ORD-20261125-BBBB0002",
        "Accessories for your iPhone",
    }
    follow_up = by_subject["Accessories for your iPhone"].body("html")
    assert "<strong>Yash</strong>" in follow_up
    assert "<script" not in follow_up
    assert "<img" not in follow_up
    [alert] = local_smtp.messages(to=admin)
    assert alert.subject == "Low stock: Desk Lamp (3 left)"


async def test_a_crash_between_claim_and_send_does_not_lose_the_email(
    notification_app: FastAPI,
    notification_fastapi: FastAPI,
    producer: EventProducer,
    topics: Topics,
    local_smtp,
) -> None:
    email = _email()
    data = _order_data(email, "ORD-20261125-CCCC0003")
    event = new_event(topics.placed, "order-service", str(data["order_id"]), data)
    # A consumer claimed the event and died before sending: its claim holds for the lease.
    ledger = notification_fastapi.state.ledger
    assert await ledger.claim(event.id) is not None
    await producer.publish(topics.placed, event)

    async def arrived() -> bool:
        return bool(local_smtp.messages(to=email))

    await asyncio.sleep(1.0)
    assert local_smtp.messages(to=email) == []  # the live claim is respected...
    await wait_for(arrived, within=30)  # ...and taken over once its lease (3 s) ran out
    await asyncio.sleep(1.0)
    assert len(local_smtp.messages(to=email)) == 1
    assert await ledger.is_sent(event.id)


async def test_a_malformed_event_goes_to_the_dead_letter_topic_and_sends_nothing(
    notification_app: FastAPI,
    producer: EventProducer,
    topics: Topics,
    local_smtp,
    local_kafka: str,
) -> None:
    from aiokafka import AIOKafkaConsumer

    from chassis.events import decode_event

    event = new_event(topics.placed, "order-service", "bad", {"order_id": "bad"})
    probe = AIOKafkaConsumer(
        f"{topics.placed}.dlq",
        bootstrap_servers=local_kafka,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"probe-{uuid.uuid4().hex[:8]}",
    )
    await probe.start()
    try:
        await producer.publish(topics.placed, event)
        found = []
        deadline = asyncio.get_running_loop().time() + 30
        while not found and asyncio.get_running_loop().time() < deadline:
            batch = await probe.getmany(timeout_ms=200)
            found = [r for rs in batch.values() for r in rs if decode_event(r.value).id == event.id]
        assert found, "the malformed event never reached the DLQ"
        headers = dict(found[0].headers)
        assert headers["x-error-type"] == b"ValidationError"
    finally:
        await probe.stop()
