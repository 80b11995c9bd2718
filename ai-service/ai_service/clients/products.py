"""The catalog from product-service: every page of GET /api/products, loaded in the
background at start-up with retries and backoff until it succeeds (the service answers
meanwhile, from what product-updated events brought). A circuit breaker (purgatory, state as a
gauge) stops the retries from calling a product-service that keeps failing until its reset
time has passed."""

import asyncio
import contextlib
from typing import Any

import httpx
import structlog
from prometheus_client import Gauge
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from ai_service.catalog import CatalogIndex, Product
from chassis.kafka import backoff_delay

log = structlog.get_logger(__name__)

MAX_PAGES = 10_000
CIRCUIT = "product-service"
BREAKER_STATES = {"closed": 0, "half-opened": 1, "opened": 2}
BREAKER_STATE = Gauge(
    "ai_product_service_circuit_breaker_state",
    "Breaker on calls to product-service: 0 closed, 1 half-open, 2 open",
)


class CatalogUnavailable(Exception):
    pass


class ProductCatalogClient:
    def __init__(self, base_url: str, *, timeout_seconds: float, page_size: int,
                 breaker_failure_threshold: int = 3, breaker_reset_seconds: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.page_size = page_size
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"),
                                      timeout=httpx.Timeout(timeout_seconds), transport=transport)
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=breaker_failure_threshold,
            default_ttl=breaker_reset_seconds,
            exclude=[asyncio.CancelledError],
        )
        self.breakers.add_listener(self._on_breaker_event)
        BREAKER_STATE.set(0)

    def _on_breaker_event(self, circuit: str, event_type: str, payload: Any) -> None:
        if event_type == "state_changed":
            state = str(payload.state)
            BREAKER_STATE.set(BREAKER_STATES.get(state, 0))
            log.warning("catalog.breaker_state_changed", state=state)

    async def _get_page(self, page: int) -> Any:
        breaker = await self.breakers.get_breaker(CIRCUIT)
        try:
            async with breaker:
                reply = await self.http.get(
                    "/api/products", params={"page": page, "page_size": self.page_size}
                )
                reply.raise_for_status()
                return reply.json()
        except OpenedState as exc:
            raise CatalogUnavailable("product-service circuit breaker is open") from exc

    async def fetch_all(self) -> list[dict[str, Any]]:
        products: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            try:
                body = await self._get_page(page)
            except (httpx.HTTPError, ValueError) as exc:
                raise CatalogUnavailable(f"page {page}: {type(exc).__name__}: {exc}") from exc
            batch = body.get("products") if isinstance(body, dict) else None
            if not isinstance(batch, list):
                raise CatalogUnavailable(f"page {page}: no 'products' list in the reply")
            products.extend(p for p in batch if isinstance(p, dict))
            total = body.get("total")
            if len(batch) < self.page_size or (isinstance(total, int) and len(products) >= total):
                break
        return products

    async def close(self) -> None:
        await self.http.aclose()


class CatalogLoader:
    """Runs once per process start; retries with exponential backoff and jitter."""

    def __init__(self, client: ProductCatalogClient, catalog: CatalogIndex, *,
                 backoff_max_seconds: float) -> None:
        self.client = client
        self.catalog = catalog
        self.backoff_max_seconds = backoff_max_seconds
        self._task: asyncio.Task[None] | None = None
        self.attempts = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="catalog-loader")

    async def run(self) -> None:
        while True:
            self.attempts += 1
            try:
                documents = await self.client.fetch_all()
            except CatalogUnavailable as exc:
                delay = backoff_delay(min(self.attempts, 10), 0.5, self.backoff_max_seconds)
                log.warning("catalog.load_failed", attempt=self.attempts, error=str(exc),
                            retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            applied = 0
            for document in documents:
                try:
                    applied += self.catalog.upsert(Product.from_document(document))
                except (ValueError, TypeError, ArithmeticError) as exc:
                    # One malformed product must not keep the other thousands out.
                    log.warning("catalog.product_skipped", product_id=str(document.get("id")),
                                error=str(exc)[:200])
            self.catalog.loaded = True
            log.info("catalog.loaded", products=len(documents), applied=applied,
                     attempts=self.attempts)
            return

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
