"""The one reader of product-service's catalog (GET /api/products, page by page), for the
services that copy it: search-service's reindex and ai-service's catalog load.

One policy for every read: each call has the service's HTTP timeout; a transport error, a 429
or a 5xx is retried (reads are idempotent) up to `attempts` times with exponential backoff and
jitter; any other answer that is not 200 is refused at once; every call goes through a circuit
breaker (purgatory) that, after `breaker_failure_threshold` failed calls in a row, answers
without calling product-service until `breaker_reset_seconds` have passed, then lets one trial
call through. Whatever cannot be read raises `CatalogUnavailable`, a 503 with a sentence.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from prometheus_client import Gauge
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from chassis.errors import DependencyUnavailable
from chassis.kafka import backoff_delay

log = structlog.get_logger(__name__)

CIRCUIT = "product-service"
BREAKER_STATES = {"closed": 0, "half-opened": 1, "opened": 2}
MAX_PAGES = 10_000


class CatalogUnavailable(DependencyUnavailable):
    """product-service did not give a readable catalog page (after the retries)."""


@dataclass(frozen=True)
class CatalogPage:
    products: list[Any]
    total: int


class _Retryable(Exception):
    """A 429 or 5xx: product-service may answer the same read a moment later."""


class ProductCatalogReader:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float,
        attempts: int = 4,
        backoff_initial: float = 0.2,
        backoff_max: float = 3.0,
        breaker_failure_threshold: int = 3,
        breaker_reset_seconds: float = 10.0,
        breaker_gauge: Gauge | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`breaker_gauge`, when given, follows the breaker: 0 closed, 1 half-open, 2 open."""
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
        )
        self._attempts = max(1, attempts)
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=breaker_failure_threshold,
            default_ttl=breaker_reset_seconds,
            exclude=[asyncio.CancelledError],
        )
        self._gauge = breaker_gauge
        self._breakers.add_listener(self._on_breaker_event)
        if breaker_gauge is not None:
            breaker_gauge.set(0)

    def _on_breaker_event(self, circuit: str, event_type: str, payload: Any) -> None:
        if event_type == "state_changed":
            state = str(payload.state)
            if self._gauge is not None:
                self._gauge.set(BREAKER_STATES.get(state, 0))
            log.warning("product_catalog.breaker_state_changed", state=state)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get(self, params: dict[str, int]) -> httpx.Response:
        breaker = await self._breakers.get_breaker(CIRCUIT)
        async with breaker:
            reply = await self._http.get("/api/products", params=params)
            if reply.status_code == 429 or reply.status_code >= 500:
                reply.raise_for_status()
            return reply

    async def list_page(self, page: int, page_size: int) -> CatalogPage:
        params = {"page": page, "page_size": page_size}
        reason = ""
        for attempt in range(1, self._attempts + 1):
            try:
                reply = await self._get(params)
            except OpenedState as exc:
                raise CatalogUnavailable(
                    "Product service is unavailable: the product-service circuit breaker is "
                    f"open after repeated failures (reading page {page} of the catalog)"
                ) from exc
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if reply.status_code != 200:
                    raise CatalogUnavailable(
                        f"Product service refused the catalog read (page {page}): "
                        f"HTTP {reply.status_code}"
                    )
                return _parse_page(reply, page)
            log.warning(
                "product_catalog.read_failed", page=page, attempt=attempt, reason=reason[:200]
            )
            if attempt < self._attempts:
                await asyncio.sleep(
                    backoff_delay(attempt, self._backoff_initial, self._backoff_max)
                )
        raise CatalogUnavailable(
            f"Product service is unavailable ({reason[:200]}) after {self._attempts} "
            f"attempt(s) reading page {page} of the catalog"
        )

    async def fetch_all(self, page_size: int) -> list[dict[str, Any]]:
        """Every product, page after page, until a short page or the announced total."""
        products: list[dict[str, Any]] = []
        for number in range(1, MAX_PAGES + 1):
            page = await self.list_page(number, page_size)
            products.extend(p for p in page.products if isinstance(p, dict))
            if len(page.products) < page_size or len(products) >= page.total:
                break
        return products


def _parse_page(reply: httpx.Response, page: int) -> CatalogPage:
    try:
        body = reply.json()
        products = body["products"]
        total = int(body["total"])
        if not isinstance(products, list) or total < 0:
            raise ValueError("products is not a list or total is negative")
    except (ValueError, KeyError, TypeError) as exc:
        raise CatalogUnavailable(
            f"Product service sent an unreadable catalog page {page}: {exc}"
        ) from exc
    return CatalogPage(products=products, total=total)
