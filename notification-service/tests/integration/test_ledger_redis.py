"""The delivery ledger against real Redis: NX claims with a lease, release only by the
owner, sent marks, and the bounded recent-notification log."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from notification_service.repository import SENT, DeliveryLedger
from notification_service.schemas import Notification


@pytest.fixture
async def ledger(local_redis: str) -> AsyncIterator[DeliveryLedger]:
    redis = Redis.from_url(local_redis, decode_responses=True, socket_timeout=2)
    prefix = f"ledger-it-{uuid.uuid4().hex[:8]}"
    yield DeliveryLedger(redis, prefix=prefix, lease_seconds=0.3, sent_ttl_seconds=60, log_size=3)
    keys = [k async for k in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def _note(to: str, n: int) -> Notification:
    return Notification(
        event_id=f"e{n}",
        kind="order-confirmation",
        to=to,
        subject=f"s{n}",
        sent_at=datetime.now(UTC),
    )


async def test_only_one_claim_wins_and_it_lapses_after_the_lease(
    ledger: DeliveryLedger,
) -> None:
    results = await asyncio.gather(*(ledger.claim("e1") for _ in range(10)))
    assert sum(r is not None for r in results) == 1
    await asyncio.sleep(0.5)
    assert await ledger.state("e1") is None
    assert await ledger.claim("e1") is not None


async def test_a_claim_is_released_only_by_its_owner(ledger: DeliveryLedger) -> None:
    token = await ledger.claim("e2")
    assert token is not None
    await ledger.release("e2", "claimed:someone-else")
    assert await ledger.state("e2") == token
    await ledger.release("e2", token)
    assert await ledger.state("e2") is None


async def test_sent_is_final_and_logged_in_a_bounded_list(ledger: DeliveryLedger) -> None:
    token = await ledger.claim("e3")
    assert token is not None
    for n in range(5):
        await ledger.record_sent(f"e{n}", _note("A@example.com" if n % 2 else "b@x.io", n))
    assert await ledger.state("e3") == SENT
    assert await ledger.claim("e3") is None
    await asyncio.sleep(0.4)  # a lease-length later "sent" still holds
    assert await ledger.is_sent("e3")
    recent = await ledger.recent(None, 10)
    assert [n.event_id for n in recent] == ["e4", "e3", "e2"]  # newest first, 3 kept
    assert [n.event_id for n in await ledger.recent("a@example.com", 10)] == ["e3"]
    assert [n.event_id for n in await ledger.recent(None, 1)] == ["e4"]


async def test_a_restarted_replica_takes_over_the_claims_its_dead_run_left(
    local_redis: str,
) -> None:
    """kill -9 between claim and sent: the same replica restarted (same owner id, a new process
    run) claims the event at once; another replica still waits for the lease."""
    redis = Redis.from_url(local_redis, decode_responses=True, socket_timeout=2)
    prefix = f"ledger-takeover-{uuid.uuid4().hex[:8]}"

    def run_of(owner: str) -> DeliveryLedger:
        return DeliveryLedger(
            redis, prefix=prefix, lease_seconds=60, sent_ttl_seconds=60, log_size=3, owner=owner
        )

    try:
        dead = run_of("notification-service-8004")
        assert await dead.claim("e1") is not None
        other_replica = run_of("notification-service-8014")
        assert await other_replica.claim("e1") is None
        assert await dead.claim("e1") is None  # the live run itself never claims twice

        restarted = run_of("notification-service-8004")
        token = await restarted.claim("e1")
        assert token is not None
        assert restarted.taken_over == 1
        assert await restarted.state("e1") == token
        assert await restarted.claim("e1") is None  # now its own live claim
    finally:
        keys = [k async for k in redis.scan_iter(f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
