"""Every LLM call: a timeout, retries with exponential backoff and jitter for 429/5xx/
timeouts, and a circuit breaker whose state is the metric
`circuit_breaker_state{service="ai-service",dependency="llm:<provider>"}`; retries and breaker
are the chassis's (`chassis.resilience`). Whatever fails comes out as LLMUnavailable, which the
service answers with the local fallback; so that the fallback still reaches the shopper, the
model gets the request's time (chassis.deadlines) less `FALLBACK_RESERVE_SECONDS`."""

import asyncio

import structlog
from prometheus_client import Counter, Histogram

from ai_service.llm.base import ChatModel, LLMError
from chassis.resilience import CallPolicy, DeadlineExceeded, OpenedState

log = structlog.get_logger(__name__)

SERVICE = "ai-service"
# Kept from the request's time for the local answer when the model runs out of it.
FALLBACK_RESERVE_SECONDS = 1.0
LLM_CALLS = Counter("ai_llm_calls_total", "LLM calls by outcome", ["provider", "outcome"])
LLM_LATENCY = Histogram(
    "ai_llm_request_duration_seconds",
    "One LLM request (attempt), answered or not",
    ["provider"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0),
)


class LLMUnavailable(Exception):
    """The model could not answer (after retries, or the breaker is open)."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, LLMError) and exc.retryable


class ResilientChat:
    def __init__(self, model: ChatModel, policy: CallPolicy) -> None:
        """`policy` as built by `CallPolicy.from_settings(settings, "llm", reserve_seconds=
        FALLBACK_RESERVE_SECONDS)`, so the local answer keeps its time."""
        self.model = model
        self.timeout_seconds = policy.timeout_seconds
        self.provider = model.label.split(":", 1)[0]
        self.circuit = f"llm:{self.provider}"
        self.retry = policy.retry
        self.breakers = policy.breakers(SERVICE)
        self.breakers.register(self.circuit)

    @property
    def label(self) -> str:
        return self.model.label

    async def breaker_state(self) -> str:
        return await self.breakers.state(self.circuit)

    async def complete(self, system: str, user: str) -> str:
        try:
            text = await self.retry.call(
                lambda: self._attempt(system, user),
                idempotent=True,  # a completion changes nothing: asking again is safe
                retry_if=_retryable,
            )
        except OpenedState as exc:
            LLM_CALLS.labels(self.provider, "breaker_open").inc()
            raise LLMUnavailable("circuit breaker open") from exc
        except DeadlineExceeded as exc:
            LLM_CALLS.labels(self.provider, "out_of_time").inc()
            log.warning("llm.out_of_time", provider=self.label, error=str(exc))
            raise LLMUnavailable(f"out of the request's time: {exc}") from exc
        except LLMError as exc:
            LLM_CALLS.labels(self.provider, "failed").inc()
            log.warning("llm.call_failed", provider=self.label, error=str(exc), status=exc.status)
            raise LLMUnavailable(str(exc)) from exc
        LLM_CALLS.labels(self.provider, "ok").inc()
        return text

    async def _attempt(self, system: str, user: str) -> str:
        async with await self.breakers.breaker(self.circuit):
            try:
                with LLM_LATENCY.labels(self.provider).time():
                    async with asyncio.timeout(self.timeout_seconds):
                        return await self.model.complete(system, user)
            except TimeoutError as exc:
                raise LLMError(
                    f"no answer within {self.timeout_seconds:g} s", retryable=True
                ) from exc
            except LLMError:
                raise
            except Exception as exc:
                # An SDK surprise must degrade like any other failure, never become a 500.
                raise LLMError(
                    f"provider raised {type(exc).__name__}: {exc}"[:300], retryable=False
                ) from exc

    async def close(self) -> None:
        await self.model.close()
