import uuid
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from notification_service.schemas import Notification


async def test_limit_and_email_are_validated(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/notifications", params={"limit": 0})).status_code == 422
    assert (await client.get("/api/notifications", params={"limit": 101})).status_code == 422
    reply = await client.get("/api/notifications", params={"email": "nobody@example.com"})
    assert reply.status_code == 200
    assert reply.json() == {"notifications": []}


async def test_ready_checks_redis_and_the_smtp_relay(client: httpx.AsyncClient) -> None:
    reply = await client.get("/ready")
    assert reply.status_code == 200, reply.text
    assert set(reply.json()["checks"]) == {"redis", "smtp"}
    health = (await client.get("/health")).json()
    assert health["service"] == "notification-service"


async def test_the_list_takes_page_and_page_size_and_says_the_total(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.get(
        "/api/notifications", params={"email": "nobody@example.com", "page": 2, "page_size": 5}
    )
    assert reply.status_code == 200
    assert reply.json() == {"notifications": []}
    assert reply.headers["x-total-count"] == "0"
    assert reply.headers["link"] == (
        '</api/notifications?email=nobody%40example.com&page=1&page_size=5>; rel="first", '
        '</api/notifications?email=nobody%40example.com&page=1&page_size=5>; rel="prev"'
    )
    for params in ({"page_size": 101}, {"page": 0}, {"limit": 5, "page_size": 6}):
        assert (await client.get("/api/notifications", params=params)).status_code == 422


async def test_pages_of_a_recipients_notifications_newest_first(
    client: httpx.AsyncClient, notification_fastapi: FastAPI
) -> None:
    email = f"paged-{uuid.uuid4().hex[:8]}@example.com"
    ledger = notification_fastapi.state.notifications.ledger
    for n in range(3):
        await ledger.record_sent(
            f"evt-{uuid.uuid4().hex}",
            Notification(
                event_id=f"e{n}",
                kind="order-confirmation",
                to=email,
                subject=f"Order {n}",
                sent_at=datetime.now(UTC),
            ),
        )

    async def subjects(**params: object) -> tuple[list[str], httpx.Response]:
        reply = await client.get("/api/notifications", params={"email": email, **params})
        assert reply.status_code == 200, reply.text
        return [n["subject"] for n in reply.json()["notifications"]], reply

    assert (await subjects())[0] == ["Order 2", "Order 1", "Order 0"]
    second, reply = await subjects(page=2, page_size=2)
    assert second == ["Order 0"]
    assert reply.headers["x-total-count"] == "3"
    middle, reply = await subjects(limit=1, offset=1)
    assert middle == ["Order 1"]
    assert 'limit=1&offset=2>; rel="next"' in reply.headers["link"]
