"""The limiter's hot path does by hand what redis-py and Starlette would do (pack its script
calls, time the replies, add its headers): the results must be exactly theirs."""

import asyncio
from typing import Any

import pytest
import uvloop
from redis.asyncio.connection import Connection
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.responses import Response

from api_gateway.rate_limits import RateLimits, Verdict, resp_argument, resp_command_head


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


def test_a_first_reply_slower_than_the_timeout_is_a_redis_timeout() -> None:
    """Redis that hangs before its first reply is bounded too, on uvloop (the gateway's loop,
    whose clock counts milliseconds, so the timer is often not moved before the first read)."""

    async def hanging_first_reply() -> float:
        limits = _limits(0.1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RedisTimeoutError):
            await limits._pipeline(_SlowConnection([5.0]), b"*7\r\n", _batch(1))  # type: ignore[arg-type]
        await limits.close()
        return loop.time() - started

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(hanging_first_reply()) < 1.0


@pytest.mark.parametrize(
    "upstream_headers",
    [
        {"content-type": "application/json", "x-other": "1"},
        # An upstream's own rate-limit headers are replaced, never repeated.
        {"X-RateLimit-Limit": "5", "content-type": "application/json", "x-ratelimit-limit": "6"},
    ],
)
def test_the_verdict_headers_are_set_as_headers_update_would(
    upstream_headers: dict[str, str],
) -> None:
    verdict = Verdict(True, 60, 59, 1_700_000_000.2)
    expected = Response(b"", headers=upstream_headers)
    expected.headers.update(verdict.headers())
    response = Response(b"", headers=upstream_headers)
    verdict.add_to(response)
    assert response.raw_headers == expected.raw_headers
    assert response.headers["x-ratelimit-remaining"] == "59"
    assert response.headers.getlist("x-ratelimit-limit") == ["60"]
