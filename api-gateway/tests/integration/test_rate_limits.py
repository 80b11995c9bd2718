"""Per-client budgets in the real Redis (test db 15): 429 with its headers, one counter for
every replica, a separate AI budget, and fail-open when Redis is away."""

import uuid

from prometheus_client import REGISTRY

from .conftest import GatewayFactory, free_port


async def test_the_budget_runs_out_with_429_and_headers(gateway: GatewayFactory) -> None:
    async with gateway(rate_limit_default="3/minute") as client:
        replies = [await client.get("/api/products") for _ in range(4)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in replies] == ["2", "1", "0", "0"]
    limited = replies[-1]
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert int(limited.headers["x-ratelimit-reset"]) > 0
    assert limited.json() == {"detail": "Too many requests; slow down and retry later."}


async def test_two_gateway_replicas_share_one_counter(gateway: GatewayFactory) -> None:
    prefix = f"gw-shared-{uuid.uuid4().hex[:8]}"
    settings = {"rate_limit_default": "4/minute", "rate_limit_key_prefix": prefix}
    async with gateway(**settings) as first, gateway(**settings) as second:
        statuses = [
            (await first.get("/api/products")).status_code,
            (await second.get("/api/products")).status_code,
            (await first.get("/api/products")).status_code,
            (await second.get("/api/products")).status_code,
            (await first.get("/api/products")).status_code,
            (await second.get("/api/products")).status_code,
        ]
    assert statuses == [200, 200, 200, 200, 429, 429]


async def test_ai_has_its_own_smaller_budget(gateway: GatewayFactory) -> None:
    async with gateway(rate_limit_default="5/minute", rate_limit_ai="2/minute") as client:
        ai = [(await client.post("/api/ai/chat", json={})).status_code for _ in range(3)]
        other = (await client.get("/api/products")).status_code
    assert ai == [200, 200, 429]
    assert other == 200


async def test_the_fixed_window_strategy_works_too(gateway: GatewayFactory) -> None:
    async with gateway(rate_limit_default="2/minute",
                       rate_limit_strategy="fixed-window") as client:
        statuses = [(await client.get("/api/search")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


async def test_redis_down_fails_open_and_is_counted(gateway: GatewayFactory) -> None:
    before = REGISTRY.get_sample_value("rate_limit_fail_open_total") or 0
    dead = f"redis://127.0.0.1:{free_port()}/15"
    async with gateway(redis_url=dead, rate_limit_default="1/minute") as client:
        statuses = [(await client.get("/api/products")).status_code for _ in range(3)]
        ready = await client.get("/ready")
    assert statuses == [200, 200, 200]
    assert REGISTRY.get_sample_value("rate_limit_fail_open_total") == before + 3
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"]["status"] == "DOWN"
