"""The one reader of product-service's catalog (GET /api/products, page by page), for the
services that copy it: search-service's reindex and ai-service's catalog load.

One policy for every read: each call has the service's HTTP timeout; a transport error, a 429
or a 5xx is retried (reads are idempotent) up to `attempts` times with exponential backoff and
jitter; any other answer that is not 200 is refused at once; every call goes through a circuit
breaker (purgatory) that, after `breaker_failure_threshold` failed calls in a row, answers
without calling product-service until `breaker_reset_seconds` have passed, then lets one trial
call through. Breaker and retries are the chassis's (`chassis.resilience`): the breaker's state
is `circuit_breaker_state{service=<service>,dependency="product-service"}`. Whatever cannot be
read raises `CatalogUnavailable`, a 503 with a sentence.
"""

from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from chassis.deadlines import outgoing_headers
from chassis.errors import DependencyUnavailable
from chassis.resilience import CircuitBreakers, DeadlineExceeded, OpenedState, RetryPolicy

log = structlog.get_logger(__name__)

CIRCUIT = "product-service"
MAX_PAGES = 10_000


class CatalogUnavailable(DependencyUnavailable):
    """product-service did not give a readable catalog page (after the retries)."""


@dataclass(frozen=True)
class CatalogPage:
    products: list[Any]
    total: int


class ProductCatalogReader:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float,
        service: str = "service",
        attempts: int = 4,
        backoff_initial: float = 0.2,
        backoff_max: float = 3.0,
        breaker_failure_threshold: int = 3,
        breaker_reset_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`service` names the caller in the breaker's gauge."""
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
        )
        self._retry = RetryPolicy(max(1, attempts), backoff_initial, backoff_max)
        self._attempts = self._retry.attempts
        self._breakers = CircuitBreakers(
            service,
            failure_threshold=breaker_failure_threshold,
            reset_seconds=breaker_reset_seconds,
        )
        self._breakers.register(CIRCUIT)

    async def breaker_state(self) -> str:
        """'closed', 'half-opened' or 'opened'."""
        return await self._breakers.state(CIRCUIT)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get(self, params: dict[str, int]) -> httpx.Response:
        async with await self._breakers.breaker(CIRCUIT):
            reply = await self._http.get("/api/products", params=params, headers=outgoing_headers())
            if reply.status_code == 429 or reply.status_code >= 500:
                reply.raise_for_status()
            return reply

    async def list_page(self, page: int, page_size: int) -> CatalogPage:
        params = {"page": page, "page_size": page_size}

        def failed(attempt: int, exc: BaseException) -> None:
            if isinstance(exc, httpx.TransportError | httpx.HTTPStatusError):
                log.warning(
                    "product_catalog.read_failed",
                    page=page,
                    attempt=attempt,
                    reason=_reason(exc)[:200],
                )

        try:
            reply = await self._retry.call(
                lambda: self._get(params),
                idempotent=True,  # a read
                retry_if=lambda exc: isinstance(exc, httpx.TransportError | httpx.HTTPStatusError),
                on_failure=failed,
            )
        except DeadlineExceeded as exc:
            raise CatalogUnavailable(
                f"Product service did not answer before the request's time ran out (page {page})"
            ) from exc
        except OpenedState as exc:
            raise CatalogUnavailable(
                "Product service is unavailable: the product-service circuit breaker is "
                f"open after repeated failures (reading page {page} of the catalog)"
            ) from exc
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            raise CatalogUnavailable(
                f"Product service is unavailable ({_reason(exc)[:200]}) after {self._attempts} "
                f"attempt(s) reading page {page} of the catalog"
            ) from exc
        if reply.status_code != 200:
            raise CatalogUnavailable(
                f"Product service refused the catalog read (page {page}): HTTP {reply.status_code}"
            )
        return _parse_page(reply, page)

    async def fetch_all(self, page_size: int) -> list[dict[str, Any]]:
        """Every product, page after page, until a short page or the announced total."""
        products: list[dict[str, Any]] = []
        for number in range(1, MAX_PAGES + 1):
            page = await self.list_page(number, page_size)
            products.extend(p for p in page.products if isinstance(p, dict))
            if len(page.products) < page_size or len(products) >= page.total:
                break
        return products


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


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
