"""Every Redis access: the per-event delivery state and the recent-notification log.

State of one event id, key `<prefix>:delivery:<event id>`:
  absent                 never seen, or a claim whose lease ran out (its sender died)
  "claimed:<owner>:<incarnation>:<nonce>"
                         a consumer is sending now; expires after the lease. <owner> is the
                         replica's stable id (KAFKA_GROUP_INSTANCE_ID), <incarnation> one run
                         of that replica's process
  "sent"                 the SMTP server accepted the message; kept for SENT_TTL_SECONDS

A replica restarted after a crash finds the claims its dead incarnation left (same owner,
another incarnation) and takes them over at once instead of waiting out the lease: since a
replica's id is unique, nobody else can be sending them.
"""

import uuid

from redis.asyncio import Redis

from notification_service.schemas import Notification

SENT = "sent"
CLAIM_PREFIX = "claimed:"

# Replace a claim left by an earlier incarnation of this replica (compare-and-set).
_TAKE_OVER_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    return 1
end
return 0
"""

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
        owner: str = "",
    ) -> None:
        self.redis = redis
        # This replica's stable id; each process start is a new incarnation of it.
        self.owner = owner.replace(":", "_")
        self.incarnation = uuid.uuid4().hex[:12]
        self.taken_over = 0
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

    def _own_prefix(self) -> str:
        return f"{CLAIM_PREFIX}{self.owner}:"

    async def claim(self, event_id: str) -> str | None:
        """A token if this caller may send now; None if a live claim of another replica (or of
        this very process) or "sent" exists. A claim left by a dead earlier incarnation of this
        replica is taken over."""
        token = f"{self._own_prefix()}{self.incarnation}:{uuid.uuid4().hex}"
        key = self._key(event_id)
        if await self.redis.set(key, token, nx=True, px=self.lease_ms):
            return token
        if not self.owner:
            return None
        current = await self.redis.get(key)
        if current is None:
            return None  # expired between the two calls: the redelivery claims it
        current = str(current)
        mine = current.startswith(self._own_prefix())
        if not mine or current.startswith(f"{self._own_prefix()}{self.incarnation}:"):
            return None
        if await self.redis.eval(
            _TAKE_OVER_IF_UNCHANGED, 1, key, current, token, str(self.lease_ms)
        ):
            self.taken_over += 1
            return token
        return None

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
