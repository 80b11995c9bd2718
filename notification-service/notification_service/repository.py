"""Every Redis access: the per-event delivery state and the recent-notification log.

State of one event id, key `<prefix>:delivery:<event id>`:
  absent                 never seen, or a claim whose lease ran out (its sender died)
  "claimed:<token>"      a consumer is sending now; expires after the lease
  "sent"                 the SMTP server accepted the message; kept for SENT_TTL_SECONDS
"""

import uuid

from redis.asyncio import Redis

from notification_service.schemas import Notification

SENT = "sent"
CLAIM_PREFIX = "claimed:"

# Delete the claim only if it is still ours: a claim that expired and was taken over by
# another consumer must not be released by the first one.
_RELEASE_IF_OURS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class DeliveryLedger:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        lease_seconds: float,
        sent_ttl_seconds: int,
        log_size: int,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lease_ms = int(lease_seconds * 1000)
        self.sent_ttl_seconds = sent_ttl_seconds
        self.log_size = log_size
        self._log_key = f"{prefix}:log"

    def _key(self, event_id: str) -> str:
        return f"{self.prefix}:delivery:{event_id}"

    async def state(self, event_id: str) -> str | None:
        value = await self.redis.get(self._key(event_id))
        return None if value is None else str(value)

    async def is_sent(self, event_id: str) -> bool:
        return await self.state(event_id) == SENT

    async def claim(self, event_id: str) -> str | None:
        """A token if this caller may send now; None if a live claim or "sent" exists."""
        token = CLAIM_PREFIX + uuid.uuid4().hex
        taken = await self.redis.set(self._key(event_id), token, nx=True, px=self.lease_ms)
        return token if taken else None

    async def release(self, event_id: str, token: str) -> None:
        """Give a claim back after a failed send, so the retry does not wait for the lease."""
        await self.redis.eval(_RELEASE_IF_OURS, 1, self._key(event_id), token)

    async def record_sent(self, event_id: str, notification: Notification) -> None:
        """Mark sent and log it, in one MULTI/EXEC."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(event_id), SENT, ex=self.sent_ttl_seconds)
            pipe.lpush(self._log_key, notification.model_dump_json())
            pipe.ltrim(self._log_key, 0, self.log_size - 1)
            await pipe.execute()

    async def recent(self, email: str | None, limit: int) -> list[Notification]:
        """Newest first, from the bounded log; `email` matches the recipient exactly
        (case-insensitive)."""
        raw = await self.redis.lrange(self._log_key, 0, self.log_size - 1)
        wanted = email.strip().lower() if email else None
        found: list[Notification] = []
        for entry in raw:
            notification = Notification.model_validate_json(entry)
            if wanted is None or notification.to.lower() == wanted:
                found.append(notification)
                if len(found) >= limit:
                    break
        return found

    async def ping(self) -> None:
        await self.redis.ping()

    # The chassis consumer's idempotency hook: skip ids already sent before the handler runs.
    async def is_processed(self, event_id: str) -> bool:
        return await self.is_sent(event_id)

    async def mark_processed(self, event_id: str) -> None:
        # Nothing to do: the handler records "sent" itself, right after the SMTP server
        # accepted the message, which keeps the duplicate window as short as it can be.
        return None
