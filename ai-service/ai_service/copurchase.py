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

from collections.abc import Mapping, Sequence

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

# _RECORD for the first n distinct products (n = ARGV[2]; nothing counted below 2), then the
# most frequent partners of each remaining key: KEYS[1] = the mark, KEYS[2..n+1] = the counted
# products' sorted sets, KEYS[n+2..] = the sorted sets to read; ARGV[1] = mark TTL, ARGV[3] =
# how many partners per read, ARGV[4..n+3] = the counted product ids. Returns
# {counted (0/1), {member, score, ...} per read}.
_RECORD_AND_READ = """
local n = tonumber(ARGV[2])
local counted = 0
if n >= 2 and redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  counted = 1
  for i = 2, n + 1 do
    for j = 2, n + 1 do
      if i ~= j then
        redis.call('ZINCRBY', KEYS[i], 1, ARGV[j + 2])
      end
    end
  end
end
local out = {counted}
for k = n + 2, #KEYS do
  out[#out + 1] = redis.call('ZREVRANGE', KEYS[k], 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
end
return out
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class CoPurchases:
    def __init__(self, redis: Redis, *, prefix: str, dedup_ttl_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.dedup_ttl_seconds = dedup_ttl_seconds
        self._record = redis.register_script(_RECORD)
        self._record_and_read = redis.register_script(_RECORD_AND_READ)

    def _together(self, product_id: str) -> str:
        return f"{self.prefix}:together:{product_id}"

    def _record_call(
        self, event_id: str, product_ids: Sequence[str]
    ) -> tuple[list[str], list[str | int]] | None:
        """(keys, args) of the counting script; None when there is nothing to count."""
        distinct = list(dict.fromkeys(p for p in product_ids if p))
        if len(distinct) < 2:
            return None
        keys = [f"{self.prefix}:together:seen:{event_id}", *(self._together(p) for p in distinct)]
        return keys, [self.dedup_ttl_seconds, *distinct]

    async def record(self, event_id: str, product_ids: Sequence[str]) -> bool:
        """Count each pair of distinct products of one order once per event id. False when
        this event was counted before (or the order has fewer than two products)."""
        call = self._record_call(event_id, product_ids)
        if call is None:
            return False
        applied = await self._record(keys=call[0], args=call[1])
        return bool(applied)

    async def record_and_read(
        self, event_id: str, product_ids: Sequence[str], read: Sequence[str], limit: int
    ) -> tuple[bool, Mapping[str, list[tuple[str, int]]]]:
        """``record``, then ``bought_with(p, limit)`` for each of ``read``, in one script: one
        round trip instead of one per product (the reads see this order's counts, as when
        called one by one; the counting is the same all-or-nothing, once per event id)."""
        call = self._record_call(event_id, product_ids)
        reads = list(dict.fromkeys(read))
        if call is None:
            if not reads:
                return False, {}
            keys: list[str] = [f"{self.prefix}:together:seen:{event_id}"]
            counted: list[str | int] = []
        else:
            keys, counted = call[0], call[1][1:]
        result = await self._record_and_read(
            keys=[*keys, *(self._together(p) for p in reads)],
            args=[self.dedup_ttl_seconds, len(counted), limit, *counted],
        )
        applied, *rows = result
        together = {
            product_id: [
                (_text(flat[i]), int(float(_text(flat[i + 1])))) for i in range(0, len(flat), 2)
            ]
            for product_id, flat in zip(reads, rows, strict=True)
        }
        return bool(applied), together

    async def bought_with(self, product_id: str, limit: int) -> list[tuple[str, int]]:
        """(other product id, orders with both), most frequent first."""
        rows = await self.redis.zrevrange(self._together(product_id), 0, limit - 1, withscores=True)
        return [(str(row[0]), int(row[1])) for row in rows]
