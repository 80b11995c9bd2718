"""Forwarding one request to its upstream: the pooled client, a circuit breaker per upstream
(purgatory, state exported as a gauge), and the mapping of failures to 503 / 504."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from api_gateway.clients import (
    BodyTooLarge,
    UpstreamBroken,
    UpstreamClient,
    UpstreamRefused,
    UpstreamReply,
    UpstreamTimeout,
)
from api_gateway.routing import Upstream

log = structlog.get_logger(__name__)

BREAKER_STATES = {"closed": 0, "half-opened": 1, "opened": 2}
BREAKER_STATE = Gauge(
    "gateway_circuit_breaker_state",
    "Circuit breaker per upstream: 0 closed, 1 half-open, 2 open",
    ["upstream"],
)
UPSTREAM_FAILURES = Counter(
    "gateway_upstream_failures_total", "Upstream calls that failed", ["upstream", "reason"]
)
BREAKER_REJECTED = Counter(
    "gateway_circuit_breaker_rejected_total", "Requests refused at once by an open breaker",
    ["upstream"],
)


async def bounded(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, refusing more than `limit` bytes."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge
        yield chunk


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)


class UpstreamResponse(Response):
    """The upstream's status, headers (repeated ones kept, e.g. Set-Cookie) and body, sent on
    chunk by chunk as they arrive. Unlike StreamingResponse it spawns no task per response
    (measured: that task group was a large part of the per-request cost); a client that went
    away makes `send` raise, and the upstream connection is released either way."""

    def __init__(self, reply: UpstreamReply, headers: Sequence[tuple[str, str]]) -> None:
        self.status_code = reply.status
        self.background = None
        self.reply = reply
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                            for k, v in headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            if scope["method"] != "HEAD":
                async for chunk in self.reply.body:
                    if chunk:
                        await send({"type": "http.response.body", "body": chunk,
                                    "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self.reply.close()


class Proxy:
    def __init__(self, client: UpstreamClient, *, failure_threshold: int,
                 reset_seconds: float, upstream_names: Sequence[str]) -> None:
        self.client = client
        self.reset_seconds = reset_seconds
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=failure_threshold,
            default_ttl=reset_seconds,
            # A client that went away, or sent too much, is not the upstream's fault.
            exclude=[asyncio.CancelledError, BodyTooLarge],
        )
        self.breakers.add_listener(self._on_breaker_event)
        for name in upstream_names:
            BREAKER_STATE.labels(name).set(0)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def breaker_state(self, upstream: str) -> str:
        return (await self.breakers.get_breaker(upstream)).context.state

    async def forward(self, upstream: Upstream, method: str, url: str,
                      headers: Sequence[tuple[str, str]], body: AsyncIterator[bytes] | bytes,
                      read_timeout: float) -> UpstreamReply | Response:
        """The upstream's reply, or the gateway's own 503 / 504 / 413 answer."""
        breaker = await self.breakers.get_breaker(upstream.name)
        try:
            async with breaker:
                return await self.client.send(method, url, headers, body, read_timeout)
        except OpenedState:
            BREAKER_REJECTED.labels(upstream.name).inc()
            return problem(503, f"{upstream.name} is unavailable",
                           {"Retry-After": str(max(1, round(self.reset_seconds)))})
        except UpstreamRefused as exc:
            return self._failed(upstream, "refused", exc, 503,
                                f"{upstream.name} is unavailable")
        except UpstreamTimeout as exc:
            return self._failed(upstream, "timeout", exc, 504,
                                f"{upstream.name} did not answer in time")
        except UpstreamBroken as exc:
            return self._failed(upstream, "broken", exc, 502,
                                f"{upstream.name} closed the connection")
        except BodyTooLarge:
            return problem(413, "Request body is too large.")

    @staticmethod
    def _failed(upstream: Upstream, reason: str, exc: Exception, status: int,
                detail: str) -> Response:
        UPSTREAM_FAILURES.labels(upstream.name, reason).inc()
        log.warning("gateway.upstream_failed", upstream=upstream.name, reason=reason,
                    error=str(exc))
        return problem(status, detail)

    def _on_breaker_event(self, circuit: str, event_type: str, payload: Any) -> None:
        if event_type == "state_changed":
            state = str(payload.state)
            BREAKER_STATE.labels(circuit).set(BREAKER_STATES.get(state, 0))
            log.warning("gateway.breaker_state_changed", upstream=circuit, state=state)
