"""The catalog from product-service: every page of GET /api/products, loaded in the
background at start-up and retried with backoff until it succeeds (the service answers
meanwhile, from what product-updated events brought). The reads go through the chassis's one
catalog reader (`chassis.product_catalog`): its timeout, and its circuit breaker (state as the
gauge `circuit_breaker_state{service="ai-service",dependency="product-service"}`) that stops
the loader from calling a product-service that keeps failing until its reset time has passed.
One try per page: the loader is the retry loop, and a load started again costs little."""

import asyncio

import httpx
import structlog

from ai_service.catalog import CatalogIndex, Product
from chassis.lifecycle import BackgroundTask
from chassis.product_catalog import CatalogUnavailable, ProductCatalogReader
from chassis.resilience import backoff_delay

log = structlog.get_logger(__name__)

SERVICE = "ai-service"

__all__ = ["CatalogLoader", "CatalogUnavailable", "catalog_reader"]


def catalog_reader(
    base_url: str,
    *,
    timeout_seconds: float,
    breaker_failure_threshold: int = 3,
    breaker_reset_seconds: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ProductCatalogReader:
    return ProductCatalogReader(
        base_url,
        timeout_seconds=timeout_seconds,
        service=SERVICE,
        attempts=1,
        breaker_failure_threshold=breaker_failure_threshold,
        breaker_reset_seconds=breaker_reset_seconds,
        transport=transport,
    )


class CatalogLoader:
    """Runs once per process start; retries with exponential backoff and jitter."""

    def __init__(
        self,
        client: ProductCatalogReader,
        catalog: CatalogIndex,
        *,
        page_size: int,
        backoff_max_seconds: float,
    ) -> None:
        self.client = client
        self.catalog = catalog
        self.page_size = page_size
        self.backoff_max_seconds = backoff_max_seconds
        self._background = BackgroundTask("catalog-loader", self.run)
        self.attempts = 0

    def start(self) -> None:
        self._background.start()

    async def run(self) -> None:
        while True:
            self.attempts += 1
            try:
                documents = await self.client.fetch_all(self.page_size)
            except CatalogUnavailable as exc:
                delay = backoff_delay(min(self.attempts, 10), 0.5, self.backoff_max_seconds)
                log.warning(
                    "catalog.load_failed",
                    attempt=self.attempts,
                    error=str(exc),
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay)
                continue
            applied = 0
            for document in documents:
                try:
                    applied += self.catalog.upsert(Product.from_document(document))
                except (ValueError, TypeError, ArithmeticError) as exc:
                    # One malformed product must not keep the other thousands out.
                    log.warning(
                        "catalog.product_skipped",
                        product_id=str(document.get("id")),
                        error=str(exc)[:200],
                    )
            self.catalog.loaded = True
            log.info(
                "catalog.loaded", products=len(documents), applied=applied, attempts=self.attempts
            )
            return

    async def stop(self) -> None:
        await self._background.stop()
