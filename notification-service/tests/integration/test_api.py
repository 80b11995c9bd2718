import httpx


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
