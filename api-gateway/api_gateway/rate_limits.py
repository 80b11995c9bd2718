"""Per-client request budgets in Redis (the `limits` library's async storage), so every
gateway replica draws from the same counter. Redis down or slow: the request passes
(fail-open), the failure is logged and counted."""

import asyncio
import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
)
from prometheus_client import Counter

log = structlog.get_logger(__name__)

FAIL_OPEN = Counter(
    "rate_limit_fail_open_total", "Requests let through because the rate-limit store failed"
)
LIMITED = Counter("rate_limit_rejected_total", "Requests answered 429", ["bucket"])

STRATEGIES: dict[str, type[RateLimiter]] = {
    "moving-window": MovingWindowRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    # epoch seconds when a unit of budget comes back
    reset_at: float

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_at - time.time())))
        return headers


class RateLimits:
    def __init__(self, redis_url: str, *, default: str, ai: str, strategy: str,
                 key_prefix: str, timeout_seconds: float) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown rate limit strategy {strategy!r}; "
                             f"choose one of {', '.join(STRATEGIES)}")
        uri = redis_url.replace("redis://", "async+redis://", 1).replace(
            "rediss://", "async+rediss://", 1)
        self.storage = RedisStorage(
            uri, implementation="redispy", key_prefix=key_prefix, wrap_exceptions=True,
            socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds,
        )
        self.limiter = STRATEGIES[strategy](self.storage)
        self.items: dict[str, RateLimitItem] = {"default": parse(default), "ai": parse(ai)}
        self.timeout_seconds = timeout_seconds

    @staticmethod
    def bucket_for(segment: str | None) -> str:
        return "ai" if segment == "ai" else "default"

    async def check(self, client_key: str, bucket: str) -> Verdict | None:
        """Spends one unit; None when the store failed (fail-open)."""
        item = self.items[bucket]
        try:
            allowed = await asyncio.wait_for(
                self.limiter.hit(item, bucket, client_key), self.timeout_seconds)
            stats = await asyncio.wait_for(
                self.limiter.get_window_stats(item, bucket, client_key), self.timeout_seconds)
        except Exception as exc:
            FAIL_OPEN.inc()
            log.warning("gateway.rate_limit_fail_open", error=f"{type(exc).__name__}: {exc}")
            return None
        if not allowed:
            LIMITED.labels(bucket).inc()
        return Verdict(allowed, item.amount, stats.remaining, stats.reset_time)

    async def ping(self) -> None:
        """For /ready: raises unless Redis answers."""
        if not await self.storage.check():
            raise ConnectionError("Redis did not answer PING")

    async def close(self) -> None:
        # Best effort: the storage owns its connection pool.
        storage = self.storage
        bridge = getattr(storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()
