"""chassis.resilience: breakers per dependency and their gauge, the retry policy, the 503/504
mapping."""

import asyncio
import time
import uuid
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from chassis.errors import DependencyTimeout, DependencyUnavailable
from chassis.resilience import (
    CallPolicy,
    CircuitBreakers,
    OpenedState,
    RetryPolicy,
    backoff_delay,
    dependency_error,
)


class Down(Exception):
    pass


def _service() -> str:
    """A service name of its own per test: the gauge is process-wide."""
    return f"svc-{uuid.uuid4().hex[:8]}"


def _gauge(service: str, dependency: str, endpoint: str = "") -> float | None:
    return REGISTRY.get_sample_value(
        "circuit_breaker_state",
        {"service": service, "dependency": dependency, "endpoint": endpoint},
    )


async def _fail(breakers: CircuitBreakers, dependency: str, endpoint: str = "") -> None:
    with pytest.raises(Down):
        async with await breakers.breaker(dependency, endpoint):
            raise Down


async def _succeed(breakers: CircuitBreakers, dependency: str, endpoint: str = "") -> str:
    async with await breakers.breaker(dependency, endpoint):
        return "ok"


async def test_a_registered_breaker_reads_closed_before_any_call() -> None:
    service = _service()
    breakers = CircuitBreakers(service, failure_threshold=2, reset_seconds=10)
    breakers.register("inventory-service")
    assert _gauge(service, "inventory-service") == 0
    assert await breakers.state("inventory-service") == "closed"


async def test_the_breaker_opens_after_n_failures_in_a_row_and_refuses_at_once() -> None:
    service = _service()
    breakers = CircuitBreakers(service, failure_threshold=3, reset_seconds=10)
    for _ in range(2):
        await _fail(breakers, "inventory-service")
    assert await breakers.state("inventory-service") == "closed"
    assert _gauge(service, "inventory-service") == 0
    await _fail(breakers, "inventory-service")
    assert await breakers.state("inventory-service") == "opened"
    assert _gauge(service, "inventory-service") == 2
    called = False
    with pytest.raises(OpenedState):
        async with await breakers.breaker("inventory-service"):
            called = True
    assert not called
    assert await breakers.refuses("inventory-service", now=time.time())


async def test_a_success_resets_the_count_of_failures() -> None:
    breakers = CircuitBreakers(_service(), failure_threshold=2, reset_seconds=10)
    await _fail(breakers, "dep")
    assert await _succeed(breakers, "dep") == "ok"
    await _fail(breakers, "dep")
    assert await breakers.state("dep") == "closed"


async def test_half_open_after_the_reset_time_a_success_closes_it() -> None:
    service = _service()
    breakers = CircuitBreakers(service, failure_threshold=1, reset_seconds=0.1)
    await _fail(breakers, "dep")
    assert _gauge(service, "dep") == 2
    await asyncio.sleep(0.15)
    assert not await breakers.refuses("dep", now=time.time())  # due for its trial call
    assert await _succeed(breakers, "dep") == "ok"
    assert await breakers.state("dep") == "closed"
    assert _gauge(service, "dep") == 0


async def test_half_open_trial_that_fails_opens_it_again() -> None:
    service = _service()
    breakers = CircuitBreakers(service, failure_threshold=1, reset_seconds=0.1)
    await _fail(breakers, "dep")
    await asyncio.sleep(0.15)
    await _fail(breakers, "dep")
    assert await breakers.state("dep") == "opened"
    assert _gauge(service, "dep") == 2


async def test_half_open_shows_as_one_in_the_gauge() -> None:
    """purgatory reports the trial call's half-open state after the call (with its outcome):
    the listener's mapping is checked on the event itself."""
    service = _service()
    breakers = CircuitBreakers(service, failure_threshold=1, reset_seconds=10)
    breakers.register("dep", "http://a")
    breakers._on_event("dep http://a", "state_changed", SimpleNamespace(state="half-opened"))
    assert _gauge(service, "dep", "http://a") == 1
    breakers._on_event("dep http://a", "state_changed", SimpleNamespace(state="opened"))
    assert _gauge(service, "dep", "http://a") == 2
    breakers._on_event("dep http://a", "failure", SimpleNamespace(state="closed"))
    assert _gauge(service, "dep", "http://a") == 2  # only state changes move it


async def test_one_breaker_per_dependency_and_endpoint() -> None:
    service = _service()
    breakers = CircuitBreakers(service, failure_threshold=1, reset_seconds=10)
    breakers.register("search-service", "http://a")
    breakers.register("search-service", "http://b")
    await _fail(breakers, "search-service", "http://a")
    assert await breakers.state("search-service", "http://a") == "opened"
    assert await breakers.state("search-service", "http://b") == "closed"
    assert await breakers.state("inventory-service") == "closed"
    assert _gauge(service, "search-service", "http://a") == 2
    assert _gauge(service, "search-service", "http://b") == 0


async def test_excluded_errors_and_cancellation_do_not_count() -> None:
    breakers = CircuitBreakers(_service(), failure_threshold=1, reset_seconds=10, exclude=[Down])
    await _fail(breakers, "dep")
    with pytest.raises(asyncio.CancelledError):
        async with await breakers.breaker("dep"):
            raise asyncio.CancelledError
    assert await breakers.state("dep") == "closed"


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (10, 1.0)]:
        delays = [backoff_delay(attempt, 0.1, 1.0) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jitter


class Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "answer"


async def test_an_idempotent_call_is_retried_until_it_answers() -> None:
    flaky = Flaky([Down("1"), Down("2")])
    seen: list[tuple[int, str]] = []
    policy = RetryPolicy(attempts=3, backoff_initial=0.001, backoff_max=0.002)
    answer = await policy.call(
        flaky,
        idempotent=True,
        retry_if=lambda exc: isinstance(exc, Down),
        on_failure=lambda n, exc: seen.append((n, str(exc))),
    )
    assert answer == "answer"
    assert flaky.calls == 3
    assert seen == [(1, "1"), (2, "2")]


async def test_retries_stop_after_the_last_attempt_with_its_error() -> None:
    flaky = Flaky([Down("1"), Down("2"), Down("3"), Down("4")])
    policy = RetryPolicy(attempts=3, backoff_initial=0.001, backoff_max=0.002)
    with pytest.raises(Down, match="3"):
        await policy.call(flaky, idempotent=True, retry_if=lambda exc: True)
    assert flaky.calls == 3


async def test_a_call_that_is_not_idempotent_gets_one_attempt() -> None:
    flaky = Flaky([Down("1")])
    policy = RetryPolicy(attempts=5, backoff_initial=0.001, backoff_max=0.002)
    with pytest.raises(Down):
        await policy.call(flaky, idempotent=False, retry_if=lambda exc: True)
    assert flaky.calls == 1


async def test_an_error_retry_if_refuses_is_raised_at_once() -> None:
    flaky = Flaky([ValueError("bad"), Down("1")])
    policy = RetryPolicy(attempts=5, backoff_initial=0.001, backoff_max=0.002)
    with pytest.raises(ValueError, match="bad"):
        await policy.call(flaky, idempotent=True, retry_if=lambda exc: isinstance(exc, Down))
    assert flaky.calls == 1


async def test_an_open_breaker_inside_a_retried_call_is_not_retried() -> None:
    breakers = CircuitBreakers(_service(), failure_threshold=1, reset_seconds=10)
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        async with await breakers.breaker("dep"):
            raise Down

    policy = RetryPolicy(attempts=5, backoff_initial=0.001, backoff_max=0.002)
    with pytest.raises(OpenedState):
        await policy.call(attempt, idempotent=True, retry_if=lambda exc: isinstance(exc, Down))
    assert calls == 2  # the first failure opened it; the second attempt was refused at once


class SlowReply(Exception):
    timed_out = True


@pytest.mark.parametrize(
    ("exc", "status", "detail"),
    [
        (OpenedState("dep"), 503, "breaker open"),
        (ConnectionRefusedError(), 503, "away"),
        (Down("HTTP 502"), 503, "away"),
        (TimeoutError(), 504, "slow"),
        (SlowReply(), 504, "slow"),
    ],
)
def test_away_or_open_is_503_and_too_slow_is_504(
    exc: BaseException, status: int, detail: str
) -> None:
    error = dependency_error(exc, unavailable="away", too_slow="slow", breaker_open="breaker open")
    assert error.status_code == status
    assert error.detail == detail
    assert isinstance(error, DependencyUnavailable if status == 503 else DependencyTimeout)


def test_an_open_breaker_reads_as_away_when_no_sentence_of_its_own() -> None:
    error = dependency_error(OpenedState("dep"), unavailable="away", too_slow="slow")
    assert isinstance(error, DependencyUnavailable)
    assert error.detail == "away"


def test_a_call_policy_is_read_from_settings_by_one_naming_rule() -> None:
    settings = SimpleNamespace(
        inventory_timeout_seconds=2.5,
        inventory_retry_attempts=4,
        inventory_retry_backoff_seconds=0.1,
        inventory_retry_backoff_max_seconds=0.8,
        inventory_breaker_failure_threshold=7,
        inventory_breaker_reset_seconds=12.0,
    )
    policy = CallPolicy.from_settings(settings, "inventory", reserve_seconds=0.5)
    assert policy.timeout_seconds == 2.5
    assert policy.retry == RetryPolicy(4, 0.1, 0.8, reserve_seconds=0.5)
    breakers = policy.breakers(_service())
    assert breakers.reset_seconds == 12.0
