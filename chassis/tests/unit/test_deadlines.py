"""chassis.deadlines and RetryPolicy under a request's budget: the one timeout rule."""

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI

from chassis import deadlines
from chassis.app import create_app
from chassis.errors import DependencyTimeout
from chassis.resilience import DeadlineExceeded, RetryPolicy, dependency_error
from chassis.settings import BaseServiceSettings


class Flaky(Exception):
    pass


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(b"1500", 1.5), ("1", 0.001), (b"600000", 600.0), (b" 250 ", 0.25)],
)
def test_a_budget_in_whole_milliseconds_is_read(raw: bytes | str, seconds: float) -> None:
    assert deadlines.parse_budget_ms(raw) == seconds


@pytest.mark.parametrize("raw", [b"", b"0", b"-5", b"1.5", b"abc", b"600001", b"99999999999"])
def test_a_malformed_or_absurd_budget_is_ignored(raw: bytes) -> None:
    assert deadlines.parse_budget_ms(raw) is None


def test_without_a_deadline_nothing_is_capped_and_nothing_is_sent_on() -> None:
    assert deadlines.remaining_seconds() is None
    assert deadlines.cap(5.0) == 5.0
    assert deadlines.outgoing_headers() == {}


def test_a_budget_caps_timeouts_and_travels_on_shrunk() -> None:
    with deadlines.deadline_in(2.0):
        assert deadlines.cap(5.0) == pytest.approx(2.0, abs=0.05)
        assert deadlines.cap(1.0) == 1.0
        assert deadlines.cap(5.0, reserve=0.5) == pytest.approx(1.5, abs=0.05)
        sent = int(deadlines.outgoing_headers()[deadlines.DEADLINE_HEADER])
        assert 1900 <= sent <= 2000
    assert deadlines.remaining_seconds() is None


def test_an_inner_budget_never_extends_an_outer_one() -> None:
    with deadlines.deadline_in(1.0), deadlines.deadline_in(30.0):
        left = deadlines.remaining_seconds()
        assert left is not None
        assert left <= 1.0


async def test_an_attempt_is_cut_off_when_the_request_runs_out_of_time() -> None:
    calls = 0

    async def slow() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(5)
        return "late"

    started = time.monotonic()
    with deadlines.deadline_in(0.2), pytest.raises(DeadlineExceeded, match="ran out"):
        await RetryPolicy(3, 0.01, 0.02).call(slow, idempotent=True, retry_if=lambda e: True)
    assert time.monotonic() - started < 1.0
    assert calls == 1


async def test_no_retry_starts_that_its_backoff_would_push_past_the_deadline() -> None:
    calls = 0

    async def down() -> str:
        nonlocal calls
        calls += 1
        raise Flaky("refused")

    with deadlines.deadline_in(0.3), pytest.raises(Flaky):
        # The first backoff (0.5-1 s) does not fit into 0.3 s: the failure stands at once.
        await RetryPolicy(5, 1.0, 1.0).call(down, idempotent=True, retry_if=lambda e: True)
    assert calls == 1


async def test_retries_go_on_while_the_budget_lasts_and_the_answer_comes_back() -> None:
    calls = 0

    async def second_time_lucky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Flaky("refused")
        return "ok"

    with deadlines.deadline_in(5.0):
        result = await RetryPolicy(3, 0.01, 0.02).call(
            second_time_lucky, idempotent=True, retry_if=lambda e: True
        )
    assert (result, calls) == ("ok", 2)


async def test_the_reserve_is_kept_from_the_attempts() -> None:
    async def slow() -> str:
        await asyncio.sleep(5)
        return "late"

    started = time.monotonic()
    with deadlines.deadline_in(1.0), pytest.raises(DeadlineExceeded):
        await RetryPolicy(1, 0.01, 0.01, reserve_seconds=0.8).call(
            slow, idempotent=True, retry_if=lambda e: False
        )
    assert time.monotonic() - started < 0.6


async def test_a_spent_budget_refuses_the_call_without_trying() -> None:
    calls = 0

    async def never() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    with deadlines.deadline_in(0.0), pytest.raises(DeadlineExceeded, match="no time left"):
        await RetryPolicy(3, 0.01, 0.02).call(never, idempotent=True, retry_if=lambda e: True)
    assert calls == 0


async def test_a_timeout_of_the_attempt_itself_is_not_called_out_of_time() -> None:
    async def own_timeout() -> str:
        raise TimeoutError("read timed out")

    with deadlines.deadline_in(5.0), pytest.raises(TimeoutError) as caught:
        await RetryPolicy(1, 0.01, 0.01).call(
            own_timeout, idempotent=True, retry_if=lambda e: False
        )
    assert not isinstance(caught.value, DeadlineExceeded)


def test_out_of_time_is_a_504_with_its_own_sentence() -> None:
    error = dependency_error(
        DeadlineExceeded("cut off"),
        unavailable="X is unavailable.",
        too_slow="X did not answer within 5 s.",
        out_of_time="X did not answer before this request's time ran out.",
    )
    assert isinstance(error, DependencyTimeout)
    assert str(error) == "X did not answer before this request's time ran out."


async def test_every_service_reads_the_budget_from_the_header() -> None:
    app: FastAPI = create_app(BaseServiceSettings(service_name="deadline-test"), title="t")

    @app.get("/left")
    async def left() -> dict[str, float | None]:
        return {"left": deadlines.remaining_seconds()}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with_budget = (await client.get("/left", headers={deadlines.DEADLINE_HEADER: "800"})).json()
        without = (await client.get("/left")).json()
        malformed = (await client.get("/left", headers={deadlines.DEADLINE_HEADER: "soon"})).json()
    assert 0.5 < with_budget["left"] <= 0.8
    assert without["left"] is None
    assert malformed["left"] is None
