"""Forwarding one request to its upstream: the pooled client, the choice of an instance
(round-robin over those whose breaker is not open), a circuit breaker per upstream instance
and the mapping of failures to 503 / 504, both from `chassis.resilience`: the breakers' state is
`circuit_breaker_state{service="api-gateway",dependency=<upstream>,endpoint=<instance URL>}`."""

import time
from collections.abc import AsyncIterator, Sequence

import structlog
from prometheus_client import Counter
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
from chassis.errors import DependencyTimeout, DependencyUnavailable
from chassis.resilience import CircuitBreakers, OpenedState, dependency_error

log = structlog.get_logger(__name__)

SERVICE = "api-gateway"
UPSTREAM_FAILURES = Counter(
    "gateway_upstream_failures_total", "Upstream calls that failed", ["upstream", "reason"]
)
BREAKER_REJECTED = Counter(
    "gateway_circuit_breaker_rejected_total",
    "Requests refused at once by an open breaker",
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
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            ended = False
            if scope["method"] != "HEAD":
                at_eof = self.reply.at_eof
                async for chunk in self.reply.body:
                    if at_eof():
                        # The whole body is in: this chunk ends the response (a small reply
                        # is one body message, not two); the loop then ends by itself.
                        await send({"type": "http.response.body", "body": chunk})
                        ended = True
                    elif chunk:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not ended:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self.reply.close()


class Proxy:
    def __init__(
        self,
        client: UpstreamClient,
        *,
        failure_threshold: int,
        reset_seconds: float,
        upstreams: Sequence[Upstream],
    ) -> None:
        self.client = client
        self.reset_seconds = reset_seconds
        self.breakers = CircuitBreakers(
            SERVICE,
            failure_threshold=failure_threshold,
            reset_seconds=reset_seconds,
            # A client that went away (always excluded), or sent too much, is not the
            # upstream's fault.
            exclude=[BodyTooLarge],
        )
        for upstream in upstreams:
            for instance in upstream.instances:
                self.breakers.register(upstream.name, instance)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def breaker_state(self, upstream: str, instance: str) -> str:
        return await self.breakers.state(upstream, instance)

    async def _available(self, upstream: Upstream) -> list[str]:
        """Instances in round-robin turn, those whose breaker is open (and not yet due for a
        trial call) left out; all of them when every breaker is open, so the first answers
        at once with its breaker's 503."""
        turn = upstream.rotation()
        available = []
        for instance in turn:
            if not await self.breakers.refuses(upstream.name, instance, now=time.time()):
                available.append(instance)
        return available or turn

    async def forward(
        self,
        upstream: Upstream,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: AsyncIterator[bytes] | bytes,
        read_timeout: float,
    ) -> UpstreamReply | Response:
        """The reply of one of the upstream's instances to `target` (path and query), or the
        gateway's own 503 / 504 / 413 answer. An instance that refuses the connection received
        nothing: a body already in hand is then offered to the next available instance."""
        instances = await self._available(upstream)
        for index, instance in enumerate(instances):
            last = index == len(instances) - 1 or not isinstance(body, bytes)
            reply = await self._forward_to(
                upstream, instance, method, instance + target, headers, body, read_timeout, last
            )
            if reply is not None:
                return reply
        raise AssertionError("the last instance always answers")  # pragma: no cover

    async def _forward_to(
        self,
        upstream: Upstream,
        instance: str,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: AsyncIterator[bytes] | bytes,
        read_timeout: float,
        last: bool,
    ) -> UpstreamReply | Response | None:
        """None when the instance refused and another may be tried."""
        breaker = await self.breakers.breaker(upstream.name, instance)
        try:
            async with breaker:
                return await self.client.send(method, url, headers, body, read_timeout)
        except OpenedState as exc:
            if not last:
                return None
            BREAKER_REJECTED.labels(upstream.name).inc()
            error = _dependency_error(upstream, exc)
            return problem(
                error.status_code,
                error.detail,
                {"Retry-After": str(max(1, round(self.reset_seconds)))},
            )
        except UpstreamRefused as exc:
            error = _dependency_error(upstream, exc)
            failed = self._failed(upstream, "refused", exc, error.status_code, error.detail)
            return failed if last else None
        except UpstreamTimeout as exc:
            error = _dependency_error(upstream, exc)
            return self._failed(upstream, "timeout", exc, error.status_code, error.detail)
        except UpstreamBroken as exc:
            return self._failed(
                upstream, "broken", exc, 502, f"{upstream.name} closed the connection"
            )
        except BodyTooLarge:
            return problem(413, "Request body is too large.")

    @staticmethod
    def _failed(
        upstream: Upstream, reason: str, exc: Exception, status: int, detail: str
    ) -> Response:
        UPSTREAM_FAILURES.labels(upstream.name, reason).inc()
        log.warning(
            "gateway.upstream_failed", upstream=upstream.name, reason=reason, error=str(exc)
        )
        return problem(status, detail)


def _dependency_error(
    upstream: Upstream, exc: Exception
) -> DependencyUnavailable | DependencyTimeout:
    """503 for an upstream that is away (refused, breaker open), 504 for one too slow."""
    return dependency_error(
        exc,
        unavailable=f"{upstream.name} is unavailable",
        too_slow=f"{upstream.name} did not answer in time",
    )
