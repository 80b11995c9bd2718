"""Redis: which order-placed events already got their follow-up (the chassis consumer's
idempotency hook), so a redelivery does not ask the model again."""

from redis.asyncio import Redis


class ProcessedEvents:
    def __init__(self, redis: Redis, *, prefix: str, ttl_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds

    def _key(self, event_id: str) -> str:
        return f"{self.prefix}:processed:{event_id}"

    async def is_processed(self, event_id: str) -> bool:
        return bool(await self.redis.exists(self._key(event_id)))

    async def mark_processed(self, event_id: str) -> None:
        await self.redis.set(self._key(event_id), "1", ex=self.ttl_seconds)

    async def ping(self) -> None:
        await self.redis.ping()
