"""The limiter packs its script calls by hand (to skip redis-py's per-argument encoding on the
hot path): the bytes must be exactly what redis-py itself would send."""

import asyncio
from typing import Any

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import TimeoutError as RedisTimeoutError

from api_gateway.rate_limits import RateLimits, resp_argument, resp_command_head


def test_a_hand_packed_check_is_what_redis_py_would_send() -> None:
    arguments = ("gateway-rl:default:ip:10.0.0.1", 60, 60_000_000, "f00d42")
    expected = b"".join(Connection().pack_command("EVALSHA", "ab" * 20, 1, *arguments))
    packed = resp_command_head("EVALSHA", "ab" * 20) + b"".join(map(resp_argument, arguments))
    assert packed == expected


def test_non_ascii_keys_are_counted_in_bytes() -> None:
    assert resp_argument("sub:zoë") == b"$8\r\nsub:zo\xc3\xab\r\n"
    assert resp_argument("sub:zoë") == b"".join(Connection().pack_command("X", "sub:zoë"))[-14:]


async def test_each_check_packs_its_bucket() -> None:
    limits = RateLimits(
        "redis://127.0.0.1:1/0",
        default="60/minute",
        ai="15/minute",
        strategy="moving-window",
        key_prefix="rl",
        timeout_seconds=0.5,
    )
    sent: list[bytes] = []

    async def run(arguments: bytes) -> list[int]:
        sent.append(arguments)
        return [1, 1, 0, 0]

    limits._run = run  # type: ignore[method-assign]
    await asyncio.gather(limits.check("ip:a", "default"), limits.check("ip:a", "ai"))
    first, second = sent
    assert first.startswith(
        resp_argument("rl:default:ip:a") + resp_argument(60) + resp_argument(60_000_000)
    )
    assert second.startswith(
        resp_argument("rl:ai:ip:a") + resp_argument(15) + resp_argument(60_000_000)
    )
    # Each check's member (added by _run) is its own: two checks are two entries of the set.
    assert next(limits._members) != next(limits._members)
    await limits.close()


class _SlowConnection:
    """Stands in for a redis-py connection whose replies come `delays` seconds apart."""

    def __init__(self, delays: list[float]) -> None:
        self.delays = delays
        self.sent: list[bytes] = []

    async def send_packed_command(self, command: bytes) -> None:
        self.sent.append(command)

    async def read_response(self, **_: Any) -> list[int]:
        await asyncio.sleep(self.delays.pop(0))
        return [1, 1, 0, 0]


def _limits(timeout_seconds: float) -> RateLimits:
    return RateLimits(
        "redis://127.0.0.1:1/0",
        default="60/minute",
        ai="15/minute",
        strategy="moving-window",
        key_prefix="rl",
        timeout_seconds=timeout_seconds,
    )


def _batch(size: int) -> list[Any]:
    loop = asyncio.get_running_loop()
    return [(b"$1\r\nk\r\n", loop.create_future()) for _ in range(size)]


async def test_each_reply_of_a_batch_gets_the_whole_timeout() -> None:
    # As with redis-py's socket timeout: 0.15 s per reply, not for the batch.
    limits = _limits(0.15)
    connection = _SlowConnection([0.1, 0.1, 0.1])
    replies = await limits._pipeline(connection, b"*7\r\n", _batch(3))  # type: ignore[arg-type]
    assert replies == [[1, 1, 0, 0]] * 3
    assert connection.sent == [b"*7\r\n$1\r\nk\r\n" * 3]
    await limits.close()


async def test_a_reply_slower_than_the_timeout_is_a_redis_timeout() -> None:
    limits = _limits(0.1)
    connection = _SlowConnection([0.0, 0.3])
    with pytest.raises(RedisTimeoutError):
        await limits._pipeline(connection, b"*7\r\n", _batch(2))  # type: ignore[arg-type]
    await limits.close()
