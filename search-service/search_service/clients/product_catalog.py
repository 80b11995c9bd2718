"""Reads the catalog from product-service for a full reindex: timeouts on every call,
retries with exponential backoff and jitter (reads are idempotent)."""

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from chassis import DependencyUnavailable
from chassis.kafka import backoff_delay

log = structlog.get_logger(__name__)


class ProductServiceUnavailable(DependencyUnavailable):
    pass


@dataclass(frozen=True)
class ProductPage:
    products: list[Any]
    total: int


class ProductCatalogClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float,
        attempts: int = 4,
        backoff_initial: float = 0.2,
        backoff_max: float = 3.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
        )
        self._attempts = attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max

    async def aclose(self) -> None:
        await self._http.aclose()

    async def list_page(self, page: int, page_size: int) -> ProductPage:
        params = {"page": page, "page_size": page_size}
        reason = ""
        for attempt in range(1, self._attempts + 1):
            try:
                reply = await self._http.get("/api/products", params=params)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if reply.status_code == 429 or reply.status_code >= 500:
                    reason = f"HTTP {reply.status_code}"
                elif reply.status_code != 200:
                    raise ProductServiceUnavailable(
                        f"Product service refused the catalog read (page {page}): "
                        f"HTTP {reply.status_code}"
                    )
                else:
                    return _parse_page(reply, page)
            log.warning(
                "product_service.read_failed", page=page, attempt=attempt, reason=reason[:200]
            )
            if attempt < self._attempts:
                await asyncio.sleep(backoff_delay(attempt, self._backoff_initial,
                                                  self._backoff_max))
        raise ProductServiceUnavailable(
            f"Product service is unavailable ({reason[:200]}) after {self._attempts} attempts "
            f"reading page {page} of the catalog"
        )


def _parse_page(reply: httpx.Response, page: int) -> ProductPage:
    try:
        body = reply.json()
        products = body["products"]
        total = int(body["total"])
        if not isinstance(products, list) or total < 0:
            raise ValueError("products is not a list or total is negative")
    except (ValueError, KeyError, TypeError) as exc:
        raise ProductServiceUnavailable(
            f"Product service sent an unreadable catalog page {page}: {exc}"
        ) from exc
    return ProductPage(products=products, total=total)
