"""The one way order-service talks to inventory-service: a pooled aiohttp client with a timeout
on every call, retries with backoff and jitter (every call here is idempotent: reservations are
keyed by the order id), and a circuit breaker, all from `chassis.resilience`: the breaker's
state is `circuit_breaker_state{service="order-service",dependency="inventory-service"}`.

aiohttp, as in the gateway (chosen there by bench/gateway_overhead.py): httpx's pool checked
every idle connection's socket on every request, 18 % of order-service's CPU under load
(py-spy, bench/hot_paths.py)."""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from prometheus_client import Counter

from chassis import BadRequest, Conflict, NotFound
from chassis.deadlines import outgoing_headers
from chassis.errors import DomainError
from chassis.resilience import CallPolicy, DeadlineExceeded, OpenedState, dependency_error
from chassis.tracing import current_traceparent

log = structlog.get_logger(__name__)

SERVICE = "order-service"
CIRCUIT = "inventory-service"

BREAKER_REJECTED = Counter(
    "circuit_breaker_rejected_total", "Calls refused at once by an open breaker", ["circuit"]
)
CALL_FAILURES = Counter(
    "inventory_call_failures_total", "Failed attempts to call inventory-service", ["operation"]
)


class _FailedAttempt(Exception):
    """A transport error, a timeout or a 5xx: counts against the breaker."""

    def __init__(self, reason: str, *, retryable: bool, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.timed_out = timed_out


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class InventoryClient:
    def __init__(self, base_url: str, *, policy: CallPolicy, max_connections: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = policy.timeout_seconds
        self.max_connections = max_connections
        # Waiting for a pooled connection and connecting, then each read: all bounded.
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=policy.timeout_seconds, sock_read=policy.timeout_seconds
        )
        self._http: aiohttp.ClientSession | None = None
        self.retry = policy.retry
        self.breakers = policy.breakers(SERVICE)
        self.breakers.register(CIRCUIT)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            # Made lazily: a ClientSession belongs to the running loop.
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                timeout=self.timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def breaker_state(self) -> str:
        """'closed', 'half-opened' or 'opened'."""
        return await self.breakers.state(CIRCUIT)

    # -- the calls -------------------------------------------------------------------------

    async def reserve(
        self, reservation_id: uuid.UUID, items: Sequence[tuple[str, int]], ttl_seconds: int
    ) -> dict[str, Any]:
        """Hold every item or none. Raises BadRequest (insufficient stock, with inventory's
        sentence), NotFound (unknown product), DependencyUnavailable or DependencyTimeout."""
        body = {
            "reservation_id": str(reservation_id),
            "items": [{"product_id": p, "quantity": q} for p, q in items],
            "ttl_seconds": ttl_seconds,
        }
        reply = await self._call("reserve", "POST", "/api/inventory/reservations", body)
        if reply.status_code in (200, 201):
            return dict(reply.json())
        raise _refusal(reply)

    async def confirm(self, reservation_id: uuid.UUID) -> dict[str, Any]:
        reply = await self._call(
            "confirm", "POST", f"/api/inventory/reservations/{reservation_id}/confirm"
        )
        if reply.status_code == 200:
            return dict(reply.json())
        raise _refusal(reply)

    async def release(self, reservation_id: uuid.UUID) -> dict[str, Any] | None:
        """None when inventory never recorded the reservation (nothing to give back)."""
        reply = await self._call(
            "release", "POST", f"/api/inventory/reservations/{reservation_id}/release"
        )
        if reply.status_code == 200:
            return dict(reply.json())
        if reply.status_code == 404:
            return None
        raise _refusal(reply)

    # -- resilience --------------------------------------------------------------------------

    async def _call(self, operation: str, method: str, path: str, body: Any = None) -> Reply:
        def failed(attempt: int, exc: BaseException) -> None:
            if isinstance(exc, _FailedAttempt):
                CALL_FAILURES.labels(operation).inc()
                log.warning(
                    "inventory.call_failed", operation=operation, attempt=attempt, error=str(exc)
                )

        try:
            return await self.retry.call(
                lambda: self._attempt(method, path, body),
                # Every call here is idempotent: reservations are keyed by the order id.
                idempotent=True,
                # Slow, not down: another attempt would only add load and wait again.
                retry_if=lambda exc: isinstance(exc, _FailedAttempt) and exc.retryable,
                on_failure=failed,
            )
        except (OpenedState, _FailedAttempt, DeadlineExceeded) as exc:
            if isinstance(exc, OpenedState):
                BREAKER_REJECTED.labels(CIRCUIT).inc()
            raise dependency_error(
                exc,
                breaker_open="Inventory service is unavailable (circuit breaker open); "
                "the order was not placed, try again shortly.",
                unavailable=f"Inventory service is unavailable ({exc}); try again shortly.",
                too_slow=f"Inventory service did not answer within {self.timeout_seconds:g} s; "
                "try again shortly.",
                out_of_time="Inventory service did not answer before this request's time ran "
                "out; try again shortly.",
            ) from None

    async def _attempt(self, method: str, path: str, body: Any) -> Reply:
        async with await self.breakers.breaker(CIRCUIT):
            # aiohttp is not instrumented: the trace context travels by hand (None: tracing off),
            # and so does what is left of the request's time (chassis.deadlines).
            headers = outgoing_headers()
            if traceparent := current_traceparent():
                headers["traceparent"] = traceparent
            try:
                async with self._session().request(
                    method,
                    self.base_url + path,
                    json=body,
                    headers=headers,
                    allow_redirects=False,
                ) as response:
                    reply = Reply(response.status, await response.read())
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # Nothing was sent: always safe to try again.
                raise _FailedAttempt(
                    f"cannot connect: {type(exc).__name__}", retryable=True
                ) from exc
            except TimeoutError as exc:
                # Slow, not down: another attempt would only add load and wait again.
                raise _FailedAttempt(
                    f"timed out: {type(exc).__name__}", retryable=False, timed_out=True
                ) from exc
            except aiohttp.ClientError as exc:
                raise _FailedAttempt(
                    f"connection lost: {type(exc).__name__}", retryable=True
                ) from exc
            if reply.status_code >= 500:
                raise _FailedAttempt(f"HTTP {reply.status_code}", retryable=True)
            return reply


def _refusal(reply: Reply) -> DomainError:
    """Turn an inventory 4xx into the same error for our own client."""
    try:
        detail = reply.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    sentence = detail if isinstance(detail, str) else None
    if reply.status_code == 400:
        return BadRequest(sentence or "Inventory service refused the reservation.")
    if reply.status_code == 404:
        return NotFound(sentence or "Product not found in inventory.")
    if reply.status_code == 409:
        return Conflict(sentence or "Reservation conflict in inventory service.")
    return BadRequest(f"Inventory service rejected the request (HTTP {reply.status_code}).")
