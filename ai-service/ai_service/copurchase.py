""" "Bought together", learned from `order-placed` events, kept in Redis.

Why Redis: ai-service already runs against it (event dedup, embedding cache), every replica
shares it, a sorted set per product answers "most often bought with X" in one call, and a Lua
script applies an order's increments and its dedup mark atomically. Delivery is at least once,
so the same order-placed can arrive again (a redelivery, a replay, a crash before the offset
commit): the script counts an event id once, all of its pairs or none. In Compose Redis keeps
an append-only file; counts lost with a Redis that keeps nothing (the local stack) come back by
replaying `order-placed` from the earliest offset with a new consumer group.

Keys: `<prefix>:together:<product id>` (sorted set: other product id -> orders with both),
`<prefix>:together:seen:<event id>` (the event was counted; expires after the dedup window)."""

from collections.abc import Sequence

from redis.asyncio import Redis

# KEYS[1] = the event's mark, KEYS[2..] = one sorted set per distinct product of the order;
# ARGV[1] = mark TTL, ARGV[2..] = the product ids, in the same order as KEYS[2..].
_RECORD = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
for i = 2, #KEYS do
  for j = 2, #KEYS do
    if i ~= j then
      redis.call('ZINCRBY', KEYS[i], 1, ARGV[j])
    end
  end
end
return 1
"""


class CoPurchases:
    def __init__(self, redis: Redis, *, prefix: str, dedup_ttl_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.dedup_ttl_seconds = dedup_ttl_seconds
        self._record = redis.register_script(_RECORD)

    def _together(self, product_id: str) -> str:
        return f"{self.prefix}:together:{product_id}"

    async def record(self, event_id: str, product_ids: Sequence[str]) -> bool:
        """Count each pair of distinct products of one order once per event id. False when
        this event was counted before (or the order has fewer than two products)."""
        distinct = list(dict.fromkeys(p for p in product_ids if p))
        if len(distinct) < 2:
            return False
        keys = [f"{self.prefix}:together:seen:{event_id}", *(self._together(p) for p in distinct)]
        applied = await self._record(keys=keys, args=[self.dedup_ttl_seconds, *distinct])
        return bool(applied)

    async def bought_with(self, product_id: str, limit: int) -> list[tuple[str, int]]:
        """(other product id, orders with both), most frequent first."""
        rows = await self.redis.zrevrange(self._together(product_id), 0, limit - 1, withscores=True)
        return [(str(row[0]), int(row[1])) for row in rows]
