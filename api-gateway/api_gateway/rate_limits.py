"""Per-client request budgets in Redis, shared by every gateway replica.

One request costs one Lua script run (EVALSHA) that prunes, counts, admits and reports the
window's reset time atomically on the server, using the server's clock, so concurrent requests
(any number, any replica) can never be admitted past the budget. The checks made in one turn of
the event loop share a round trip: one connection, one write, the replies read in order (a
burst costs a few round trips, not one per request; each script still runs on its own).

Connections are bounded and reused: one pool of `RATE_LIMIT_REDIS_MAX_CONNECTIONS`, and at most
that many checks in flight; a request waits up to `RATE_LIMIT_QUEUE_TIMEOUT_SECONDS` for its
turn. What happens when the limiter cannot decide is explicit and counted
(`rate_limit_degraded_total{reason,outcome}`):

- `local_queue_full`: every connection stayed busy past the queue timeout (a burst, not an
  outage): 503, never let through;
- `redis_timeout`: connecting to Redis or its reply took longer than `RATE_LIMIT_TIMEOUT_SECONDS`
  (it may have counted the request, or this process' own loop lags under a burst): 503, never
  let through;
- `redis_down`: Redis refused the connection, reset it, or its address is unreachable:
  `RATE_LIMIT_ON_REDIS_DOWN` decides, `allow` (default, fail-open: the shop stays up, unlimited,
  and `rate_limit_fail_open_total` counts it) or `refuse` (503).
"""

import asyncio
import hashlib
import itertools
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from limits import RateLimitItem, parse
from prometheus_client import Counter
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.responses import Response

log = structlog.get_logger(__name__)

FAIL_OPEN = Counter(
    "rate_limit_fail_open_total",
    "Requests let through unlimited because Redis was down (RATE_LIMIT_ON_REDIS_DOWN=allow)",
)
DEGRADED = Counter(
    "rate_limit_degraded_total",
    "Requests the limiter could not decide in Redis",
    ["reason", "outcome"],
)
LIMITED = Counter("rate_limit_rejected_total", "Requests answered 429", ["bucket"])

# KEYS[1] the client's key; ARGV: limit, window in microseconds, a unique member.
# Returns {admitted 0/1, count after, reset (server microseconds), now (server microseconds)}.
MOVING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local admitted = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  count = count + 1
  admitted = 1
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
local reset = now + window
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then reset = tonumber(oldest[2]) + window end
return {admitted, count, reset, now}
"""

# The same contract with one counter per window (cheaper, allows a burst at the boundary).
FIXED_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local start = now - (now % window)
local key = KEYS[1] .. ':' .. tostring(start)
local count = redis.call('INCR', key)
if count == 1 then redis.call('PEXPIRE', key, math.ceil(window / 1000) + 1000) end
local admitted = 0
if count <= limit then admitted = 1 end
return {admitted, count, start + window, now}
"""

STRATEGIES = {"moving-window": MOVING_WINDOW, "fixed-window": FIXED_WINDOW}
REDIS_DOWN_POLICIES = ("allow", "refuse")


_HEADER_NAMES = frozenset(
    {b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset", b"retry-after"}
)


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

    def add_to(self, response: Response) -> None:
        """`response.headers.update(self.headers())`, without MutableHeaders' scan of every
        header per name when the response has none of these yet (the usual case)."""
        raw = response.raw_headers
        if any(name in _HEADER_NAMES for name, _ in raw):
            response.headers.update(self.headers())
        else:
            raw.extend(
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in self.headers().items()
            )


@dataclass(frozen=True)
class Unavailable:
    """The limiter could not decide and the request must not pass: answer 503."""

    detail: str
    retry_after: int = 1


class _RedisDown(Exception):
    pass


# The check's arguments after the script name, packed in the Redis protocol (RESP): the key,
# limit and window (microseconds) of the bucket, then the sorted-set member; where the reply goes.
_Check = tuple[bytes, "asyncio.Future[list[Any]]"]


def resp_argument(value: str | int) -> bytes:
    """One bulk string of the Redis protocol, as redis-py's pack_command writes it."""
    data = str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def resp_command_head(command: str, script: str) -> bytes:
    """`*7`, the command, the script (name or text) and `1` (one key) of one check."""
    return b"*7\r\n" + resp_argument(command) + resp_argument(script) + resp_argument(1)


class RateLimits:
    def __init__(
        self,
        redis_url: str,
        *,
        default: str,
        ai: str,
        strategy: str,
        key_prefix: str,
        timeout_seconds: float,
        max_connections: int = 32,
        queue_timeout_seconds: float = 2.0,
        on_redis_down: str = "allow",
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(
                f"unknown rate limit strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
        if on_redis_down not in REDIS_DOWN_POLICIES:
            raise ValueError(
                f"unknown RATE_LIMIT_ON_REDIS_DOWN {on_redis_down!r}; "
                f"choose one of {', '.join(REDIS_DOWN_POLICIES)}"
            )
        self.pool = BlockingConnectionPool.from_url(
            redis_url,
            max_connections=max_connections,
            timeout=queue_timeout_seconds,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
        )
        self.client = Redis(connection_pool=self.pool)
        # At most one check per pooled connection in flight: the pool itself never runs dry.
        self._slots = asyncio.Semaphore(max_connections)
        # Checks waiting for the next batch (see _run), and the batches under way.
        self._pending: list[_Check] = []
        self._batch_due = False
        self._batches: set[asyncio.Task[None]] = set()
        # Members of the moving window's sorted set: unique across processes (a random
        # prefix) and requests (a counter), without a uuid4 (a getrandom call) per request.
        prefix = uuid.uuid4().hex
        self._members = (resp_argument(f"{prefix}{n}") for n in itertools.count())
        self.script = STRATEGIES[strategy]
        self.sha = hashlib.sha1(self.script.encode()).hexdigest()  # Redis names scripts by SHA-1
        # Each check's command is packed by hand from these pieces (what redis-py's
        # pack_command would write, without re-encoding the constant parts every time).
        self._evalsha = resp_command_head("EVALSHA", self.sha)
        self._eval = resp_command_head("EVAL", self.script)
        self.items: dict[str, RateLimitItem] = {"default": parse(default), "ai": parse(ai)}
        # Per bucket: the limit and window arguments, packed once.
        self._bucket_args = {
            bucket: resp_argument(item.amount) + resp_argument(item.get_expiry() * 1_000_000)
            for bucket, item in self.items.items()
        }
        self.key_prefix = key_prefix
        self.timeout_seconds = timeout_seconds
        self.queue_timeout_seconds = queue_timeout_seconds
        self.on_redis_down = on_redis_down

    @staticmethod
    def bucket_for(segment: str | None) -> str:
        return "ai" if segment == "ai" else "default"

    async def check(self, client_key: str, bucket: str) -> Verdict | Unavailable | None:
        """Spends one unit. None: Redis is down and the policy lets the request through."""
        item = self.items[bucket]
        key = resp_argument(f"{self.key_prefix}:{bucket}:{client_key}")
        try:
            if self._slots.locked():
                async with asyncio.timeout(self.queue_timeout_seconds):
                    await self._slots.acquire()
            else:
                await self._slots.acquire()  # a free slot: taken without waiting
        except TimeoutError:
            DEGRADED.labels("local_queue_full", "refused").inc()
            log.warning("gateway.rate_limit_queue_full", waited=self.queue_timeout_seconds)
            return Unavailable("The gateway is too busy to check the rate limit; retry shortly.")
        try:
            reply = await self._run(key + self._bucket_args[bucket])
        except _RedisDown as exc:
            return self._redis_down(exc.__cause__ or exc)
        except (RedisTimeoutError, TimeoutError) as exc:
            DEGRADED.labels("redis_timeout", "refused").inc()
            log.warning("gateway.rate_limit_redis_timeout", error=f"{type(exc).__name__}: {exc}")
            return Unavailable("The rate limiter did not answer in time; retry shortly.")
        except (RedisConnectionError, OSError) as exc:
            return self._redis_down(exc)
        finally:
            self._slots.release()
        admitted, count, reset_us, _now_us = reply
        allowed = int(admitted) == 1
        if not allowed:
            LIMITED.labels(bucket).inc()
        return Verdict(allowed, item.amount, item.amount - int(count), int(reset_us) / 1e6)

    def _redis_down(self, exc: BaseException) -> Unavailable | None:
        error = f"{type(exc).__name__}: {exc}"
        if self.on_redis_down == "allow":
            FAIL_OPEN.inc()
            DEGRADED.labels("redis_down", "allowed").inc()
            log.warning("gateway.rate_limit_fail_open", error=error)
            return None
        DEGRADED.labels("redis_down", "refused").inc()
        log.warning("gateway.rate_limit_redis_down_refused", error=error)
        return Unavailable("The rate limiter is unavailable (Redis); retry shortly.", 5)

    async def _run(self, arguments: bytes) -> list[Any]:
        """The script's reply for one check. Checks made in the same turn of the event loop
        go to Redis together: one connection, one write, their replies read in order (each
        script still runs atomically on its own, so the budget holds exactly as with one call
        per check). A burst of N requests then costs a few round trips instead of N."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending.append((arguments + next(self._members), future))
        if not self._batch_due:
            self._batch_due = True
            # Its own task: a caller that goes away never strands the others' replies.
            task = asyncio.get_running_loop().create_task(self._send_batch())
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)
        return await future

    async def _send_batch(self) -> None:
        # Whatever else this loop turn adds joins the batch before it is sent.
        await asyncio.sleep(0)
        batch, self._pending = self._pending, []
        self._batch_due = False
        try:
            replies = await self._call_batch(batch)
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, BaseException):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _call_batch(self, batch: list[_Check]) -> list[list[Any] | Exception]:
        try:
            # Connecting happens here: a failure to reach Redis is an outage.
            connection: AbstractConnection = await self.pool.get_connection()
        except RedisConnectionError as exc:
            if "No connection available" in str(exc):
                # The pool's own wait ran out: local exhaustion, never an outage (the
                # semaphore in check() should make this unreachable).
                raise TimeoutError("no free Redis connection") from exc
            # Refused, reset, unreachable: Redis is down.
            raise _RedisDown() from exc
        except RedisTimeoutError:
            # A connect that timed out may be this process' own loop lagging under a burst:
            # not proof of an outage, so it is refused (503), never let through.
            raise
        except OSError as exc:
            raise _RedisDown() from exc
        try:
            replies = await self._pipeline(connection, self._evalsha, batch)
            unknown = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if unknown:
                # First use on this server (or after a restart / SCRIPT FLUSH): load it.
                again = await self._pipeline(connection, self._eval, [batch[i] for i in unknown])
                for i, reply in zip(unknown, again, strict=True):
                    replies[i] = reply
            return replies
        except (RedisError, OSError, asyncio.CancelledError):
            # A half-read reply must never be read by the next request on this connection.
            await connection.disconnect()
            raise
        finally:
            await self.pool.release(connection)

    async def _pipeline(
        self, connection: AbstractConnection, head: bytes, batch: list[_Check]
    ) -> list[list[Any] | Exception]:
        """One write for the whole batch, then its replies in order; an error reply (a
        ResponseError, read whole) belongs to its check alone. Each reply is awaited at most
        `timeout_seconds` (as redis-py's socket timeout would), with one timer for the batch
        instead of one timeout context per reply: it is moved on whenever the loop's clock has
        moved (uvloop's clock counts milliseconds, so the replies of a batch, read from one
        buffer, mostly share the timer as it stands)."""
        await connection.send_packed_command(b"".join([head + arguments for arguments, _ in batch]))
        replies: list[list[Any] | Exception] = []
        loop = asyncio.get_running_loop()
        timed_from = loop.time()
        try:
            async with asyncio.timeout_at(timed_from + self.timeout_seconds) as deadline:
                for _ in batch:
                    now = loop.time()
                    if now != timed_from:
                        deadline.reschedule(now + self.timeout_seconds)
                        timed_from = now
                    try:
                        # math.inf: no timeout of redis-py's own, the deadline above applies.
                        reply = await connection.read_response(timeout=math.inf)
                    except ResponseError as exc:
                        replies.append(exc)
                        continue
                    if not isinstance(reply, list) or len(reply) != 4:
                        replies.append(RedisError(f"unexpected rate-limit script reply {reply!r}"))
                    else:
                        replies.append(reply)
        except TimeoutError as exc:
            raise RedisTimeoutError("Timeout reading from Redis (rate limit)") from exc
        return replies

    async def ping(self) -> None:
        """For /ready: raises unless Redis answers."""
        if not await asyncio.wait_for(self.client.ping(), self.timeout_seconds + 1):
            raise ConnectionError("Redis did not answer PING")

    async def close(self) -> None:
        await self.client.aclose()
        await self.pool.disconnect()
