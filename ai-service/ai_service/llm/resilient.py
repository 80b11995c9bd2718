"""Every LLM call: a timeout, retries with exponential backoff and jitter for 429/5xx/
timeouts (tenacity), and a circuit breaker (purgatory) whose state is a metric. Whatever
fails comes out as LLMUnavailable, which the service answers with the local fallback."""

import asyncio
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from ai_service.llm.base import ChatModel, LLMError

log = structlog.get_logger(__name__)

CIRCUIT = "llm"
BREAKER_STATES = {"closed": 0, "half-opened": 1, "opened": 2}
LLM_BREAKER_STATE = Gauge("ai_llm_circuit_breaker_state",
                          "LLM circuit breaker: 0 closed, 1 half-open, 2 open", ["provider"])
LLM_CALLS = Counter("ai_llm_calls_total", "LLM calls by outcome", ["provider", "outcome"])
LLM_LATENCY = Histogram(
    "ai_llm_request_duration_seconds", "One LLM request (attempt), answered or not", ["provider"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0),
)


class LLMUnavailable(Exception):
    """The model could not answer (after retries, or the breaker is open)."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, LLMError) and exc.retryable


class ResilientChat:
    def __init__(
        self,
        model: ChatModel,
        *,
        timeout_seconds: float,
        attempts: int,
        backoff_seconds: float,
        backoff_max_seconds: float,
        breaker_failure_threshold: int,
        breaker_reset_seconds: float,
    ) -> None:
        self.model = model
        self.timeout_seconds = timeout_seconds
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.provider = model.label.split(":", 1)[0]
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=breaker_failure_threshold,
            default_ttl=breaker_reset_seconds,
            exclude=[asyncio.CancelledError],
        )
        self.breakers.add_listener(self._on_breaker_event)
        LLM_BREAKER_STATE.labels(self.provider).set(0)

    @property
    def label(self) -> str:
        return self.model.label

    async def breaker_state(self) -> str:
        return (await self.breakers.get_breaker(CIRCUIT)).context.state

    async def complete(self, system: str, user: str) -> str:
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.attempts),
                # Full jitter: a random wait up to backoff * 2^n, capped.
                wait=wait_random_exponential(multiplier=self.backoff_seconds,
                                             max=self.backoff_max_seconds),
                retry=retry_if_exception(_retryable),
                reraise=True,
            ):
                with attempt:
                    text = await self._attempt(system, user)
                    LLM_CALLS.labels(self.provider, "ok").inc()
                    return text
        except OpenedState as exc:
            LLM_CALLS.labels(self.provider, "breaker_open").inc()
            raise LLMUnavailable("circuit breaker open") from exc
        except LLMError as exc:
            LLM_CALLS.labels(self.provider, "failed").inc()
            log.warning("llm.call_failed", provider=self.label, error=str(exc),
                        status=exc.status)
            raise LLMUnavailable(str(exc)) from exc
        raise LLMUnavailable("no attempt was made")  # unreachable: stop_after_attempt >= 1

    async def _attempt(self, system: str, user: str) -> str:
        breaker = await self.breakers.get_breaker(CIRCUIT)
        async with breaker:
            try:
                with LLM_LATENCY.labels(self.provider).time():
                    async with asyncio.timeout(self.timeout_seconds):
                        return await self.model.complete(system, user)
            except TimeoutError as exc:
                raise LLMError(f"no answer within {self.timeout_seconds:g} s",
                               retryable=True) from exc
            except LLMError:
                raise
            except Exception as exc:
                # An SDK surprise must degrade like any other failure, never become a 500.
                raise LLMError(f"provider raised {type(exc).__name__}: {exc}"[:300],
                               retryable=False) from exc

    async def close(self) -> None:
        await self.model.close()

    def _on_breaker_event(self, circuit: str, event_type: str, payload: Any) -> None:
        if event_type == "state_changed":
            state = str(payload.state)
            LLM_BREAKER_STATE.labels(self.provider).set(BREAKER_STATES.get(state, 0))
            log.warning("llm.breaker_state_changed", provider=self.label, state=state)
