"""The one way a service calls a dependency that may fail: circuit breakers, retries, and the
mapping of failures to the chassis's HTTP errors.

- `CircuitBreakers`: one breaker per dependency (purgatory). After `failure_threshold` failed
  calls in a row it opens: calls are refused at once (purgatory's `OpenedState`) until
  `reset_seconds` have passed, then one trial call goes through (half-open) and its outcome
  closes or reopens it. Every state change sets the one gauge
  `circuit_breaker_state{service,dependency,endpoint}` (0 closed, 1 half-open, 2 open).
  `endpoint` names an instance when a service keeps one breaker per instance of a dependency
  (the gateway, per upstream URL); it is empty otherwise.
- `RetryPolicy`: exponential backoff with jitter (`backoff_delay`), and only for idempotent
  calls: a call that is not idempotent gets exactly one attempt. No attempt outlives the
  request being served (chassis.deadlines: the one timeout rule).
- `CallPolicy`: how a service calls one dependency — the timeout per attempt, the retry
  policy and the breaker's threshold and reset time — read from its settings by one naming
  rule, `<dependency>_timeout_seconds`, `<dependency>_retry_attempts`,
  `<dependency>_retry_backoff_seconds`, `<dependency>_retry_backoff_max_seconds`,
  `<dependency>_breaker_failure_threshold`, `<dependency>_breaker_reset_seconds`.
- `dependency_error`: "dependency away" (breaker open, refused, 5xx) becomes
  `DependencyUnavailable` (503), "too slow" or "out of time" becomes `DependencyTimeout` (504).
"""

import asyncio
import importlib.util
import random
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from prometheus_client import Gauge

from chassis import deadlines
from chassis.deadlines import DeadlineExceeded
from chassis.errors import DependencyTimeout, DependencyUnavailable


@contextmanager
def _hidden(module: str) -> Iterator[None]:
    """Imports of ``module`` fail inside the block, unless the process already loaded it.

    purgatory imports the Redis client at import time only to name a type (its Redis store,
    which we do not use, imports it again when made); in a service without Redis that cost
    ~23 MB of RSS wherever the client happens to be installed (the shared dev virtualenv)."""
    if module in sys.modules or importlib.util.find_spec(module) is None:
        yield
        return
    sys.modules[module] = None  # type: ignore[assignment]  # the import system's "not here"
    try:
        yield
    finally:
        del sys.modules[module]


with _hidden("redis"):
    from purgatory import AsyncCircuitBreakerFactory
    from purgatory.domain.model import OpenedState
    from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker

log = structlog.get_logger(__name__)

T = TypeVar("T")

BREAKER_STATES = {"closed": 0, "half-opened": 1, "opened": 2}
CIRCUIT_BREAKER_STATE = Gauge(
    "circuit_breaker_state",
    "Circuit breaker per dependency: 0 closed, 1 half-open, 2 open",
    ["service", "dependency", "endpoint"],
)

__all__ = [
    "BREAKER_STATES",
    "CIRCUIT_BREAKER_STATE",
    "CallPolicy",
    "CircuitBreakers",
    "DeadlineExceeded",
    "OpenedState",
    "RetryPolicy",
    "backoff_delay",
    "dependency_error",
]


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff with full jitter for the ``attempt``-th retry (1-based)."""
    ceiling = min(maximum, initial * (2 ** (attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)


def circuit_name(dependency: str, endpoint: str = "") -> str:
    return f"{dependency} {endpoint}" if endpoint else dependency


class CircuitBreakers:
    """The breakers of one service, one per dependency (and endpoint, when given)."""

    def __init__(
        self,
        service: str,
        *,
        failure_threshold: int,
        reset_seconds: float,
        exclude: Iterable[type[BaseException]] = (),
    ) -> None:
        self.service = service
        self.reset_seconds = reset_seconds
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=failure_threshold,
            default_ttl=reset_seconds,
            # A caller that went away is not the dependency's fault.
            exclude=[asyncio.CancelledError, *exclude],
        )
        self._factory.add_listener(self._on_event)
        # circuit name -> (dependency, endpoint), for the gauge's labels
        self._circuits: dict[str, tuple[str, str]] = {}
        # (dependency, endpoint) -> its breaker. The factory's in-memory store hands out the
        # same state every time, so one breaker object per circuit is kept: a request's check
        # is then a dict lookup, not the factory's unit of work (measured on the gateway's
        # hot path, bench/hot_paths.py).
        self._breakers: dict[tuple[str, str], AsyncCircuitBreaker] = {}

    def register(self, dependency: str, endpoint: str = "") -> str:
        """Make the breaker known (its gauge reads 0 before the first call); its circuit name."""
        name = circuit_name(dependency, endpoint)
        if name not in self._circuits:
            self._circuits[name] = (dependency, endpoint)
            CIRCUIT_BREAKER_STATE.labels(self.service, dependency, endpoint).set(0)
        return name

    async def breaker(self, dependency: str, endpoint: str = "") -> AsyncCircuitBreaker:
        """`async with` it around one attempt; raises `OpenedState` when open."""
        found = self._breakers.get((dependency, endpoint))
        if found is None:
            found = await self._factory.get_breaker(self.register(dependency, endpoint))
            self._breakers[(dependency, endpoint)] = found
        return found

    async def state(self, dependency: str, endpoint: str = "") -> str:
        """'closed', 'half-opened' or 'opened'."""
        return str((await self.breaker(dependency, endpoint)).context.state)

    async def refuses(self, dependency: str, endpoint: str = "", *, now: float) -> bool:
        """True while the breaker is open and not yet due for its trial call."""
        context = (await self.breaker(dependency, endpoint)).context
        reopens_at = (context.opened_at or 0.0) + float(context.ttl)
        return context.state == "opened" and now <= reopens_at

    def _on_event(self, circuit: str, event_type: str, payload: Any) -> None:
        if event_type != "state_changed":
            return
        state = str(payload.state)
        dependency, endpoint = self._circuits.get(circuit, (circuit, ""))
        CIRCUIT_BREAKER_STATE.labels(self.service, dependency, endpoint).set(
            BREAKER_STATES.get(state, 0)
        )
        log.warning(
            "circuit_breaker.state_changed",
            dependency=dependency,
            endpoint=endpoint or None,
            state=state,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Up to `attempts` attempts of an idempotent call, `backoff_delay` apart, within the
    deadline of the request being served: each attempt is cut off when the budget (less
    `reserve_seconds`, kept by the caller for itself) runs out (`DeadlineExceeded`), and no
    retry starts that its backoff would push past it."""

    attempts: int
    backoff_initial: float
    backoff_max: float
    reserve_seconds: float = 0.0

    def delay(self, attempt: int) -> float:
        return backoff_delay(attempt, self.backoff_initial, self.backoff_max)

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        retry_if: Callable[[BaseException], bool],
        on_failure: Callable[[int, BaseException], None] | None = None,
    ) -> T:
        """The first answer of `attempt`. An exception for which `retry_if` is true is tried
        again (idempotent calls only, at most `attempts` attempts in all); any other, or the
        last one, is raised. `on_failure(attempt_number, exc)` sees every failed attempt.
        Raises `DeadlineExceeded` when the request's budget ends first."""
        tries = max(1, self.attempts) if idempotent else 1
        number = 0
        while True:
            number += 1
            try:
                return await self._within_deadline(attempt, number)
            except DeadlineExceeded:
                raise
            except Exception as exc:
                if on_failure is not None:
                    on_failure(number, exc)
                if number >= tries or not retry_if(exc):
                    raise
                pause = self.delay(number)
                left = deadlines.cap(None, reserve=self.reserve_seconds)
                if left is not None and left <= pause:
                    raise  # the next attempt could not start in time: the failure stands
            await asyncio.sleep(pause)

    async def _within_deadline(self, attempt: Callable[[], Awaitable[T]], number: int) -> T:
        left = deadlines.cap(None, reserve=self.reserve_seconds)
        if left is None:
            return await attempt()
        if left <= 0:
            raise DeadlineExceeded(f"no time left for attempt {number}")
        cutoff = asyncio.timeout(left)
        try:
            async with cutoff:
                return await attempt()
        except TimeoutError as exc:
            if cutoff.expired():
                raise DeadlineExceeded(
                    f"attempt {number} cut off when the request's time ran out ({left:.2f} s)"
                ) from exc
            raise


@dataclass(frozen=True)
class CallPolicy:
    """Timeout per attempt, retries and breaker settings for calls to one dependency."""

    timeout_seconds: float
    retry: RetryPolicy
    breaker_failure_threshold: int
    breaker_reset_seconds: float

    @classmethod
    def from_settings(
        cls, settings: object, dependency: str, *, reserve_seconds: float = 0.0
    ) -> "CallPolicy":
        """The policy from `<dependency>_timeout_seconds`, `_retry_attempts`,
        `_retry_backoff_seconds`, `_retry_backoff_max_seconds`, `_breaker_failure_threshold`
        and `_breaker_reset_seconds` of `settings`."""

        def setting(name: str) -> Any:
            return getattr(settings, f"{dependency}_{name}")

        return cls(
            timeout_seconds=float(setting("timeout_seconds")),
            retry=RetryPolicy(
                int(setting("retry_attempts")),
                float(setting("retry_backoff_seconds")),
                float(setting("retry_backoff_max_seconds")),
                reserve_seconds,
            ),
            breaker_failure_threshold=int(setting("breaker_failure_threshold")),
            breaker_reset_seconds=float(setting("breaker_reset_seconds")),
        )

    def breakers(self, service: str) -> CircuitBreakers:
        """The caller's breakers for this dependency, with this policy's threshold and reset."""
        return CircuitBreakers(
            service,
            failure_threshold=self.breaker_failure_threshold,
            reset_seconds=self.breaker_reset_seconds,
        )


def dependency_error(
    exc: BaseException,
    *,
    unavailable: str,
    too_slow: str,
    breaker_open: str | None = None,
    out_of_time: str | None = None,
) -> DependencyUnavailable | DependencyTimeout:
    """The chassis error (and so the HTTP status) for a failed call to a dependency: too slow
    (a `TimeoutError`, or any error with a true `timed_out` attribute) or out of the request's
    time (`DeadlineExceeded`, sentence `out_of_time`) is a 504; an open breaker or any other
    failure (refused, reset, 5xx) is a 503."""
    if isinstance(exc, DeadlineExceeded):
        return DependencyTimeout(out_of_time or too_slow)
    if isinstance(exc, OpenedState):
        return DependencyUnavailable(breaker_open or unavailable)
    if isinstance(exc, TimeoutError) or getattr(exc, "timed_out", False):
        return DependencyTimeout(too_slow)
    return DependencyUnavailable(unavailable)
