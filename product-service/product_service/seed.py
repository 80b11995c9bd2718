"""Load the demo catalog: `python -m product_service.seed [--skip-inventory]`.

Idempotent: a product whose name is already in the catalog is left alone. Products are
created through the service layer (so each emits product-updated through the outbox), and
each gets its inventory row from inventory-service's REST API (409 = it exists already).
"""

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import httpx
import structlog
from pymongo import AsyncMongoClient

from chassis.kafka import EventProducer
from chassis.logging import configure_logging
from chassis.mongo_outbox import MongoOutboxRelay
from chassis.resilience import backoff_delay
from product_service.config import Settings
from product_service.models import Document
from product_service.repository import ProductRepository
from product_service.schemas import Product, ProductCreate
from product_service.service import ProductService

log = structlog.get_logger(__name__)

INVENTORY_ATTEMPTS = 3
# How long the seed itself tries to publish its events; what is left, the service's relay sends.
PUBLISH_WINDOW_SECONDS = 10.0


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    inventory_created: int = 0
    inventory_existing: int = 0
    inventory_failed: list[str] = field(default_factory=list)
    events_published: int = 0


def load_catalog() -> list[ProductCreate]:
    text = resources.files("product_service").joinpath("demo_catalog.json").read_text("utf-8")
    return [ProductCreate.model_validate(item) for item in json.loads(text)["products"]]


async def create_inventory_row(http: httpx.AsyncClient, base_url: str, product: Product) -> str:
    """'created', 'existing' or raises after INVENTORY_ATTEMPTS tries."""
    body = {
        "product_id": product.id,
        "product_name": product.name[:200],
        "quantity": product.stock_quantity,
    }
    attempt = 1
    while True:  # every path of the last attempt returns or raises
        try:
            reply = await http.post(f"{base_url.rstrip('/')}/api/inventory", json=body)
        except httpx.HTTPError:
            if attempt == INVENTORY_ATTEMPTS:
                raise
        else:
            if reply.status_code == 201:
                return "created"
            if reply.status_code == 409:
                return "existing"
            if reply.status_code < 500 or attempt == INVENTORY_ATTEMPTS:
                reply.raise_for_status()
                raise httpx.HTTPStatusError(
                    f"unexpected {reply.status_code}", request=reply.request, response=reply
                )
        # Safe to retry: the same product id twice is a 409, never a second row.
        await asyncio.sleep(backoff_delay(attempt, 0.2, 2.0))
        attempt += 1


async def seed(
    settings: Settings,
    *,
    with_inventory: bool = True,
    http: httpx.AsyncClient | None = None,
) -> SeedReport:
    report = SeedReport()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        settings.mongodb_url, serverSelectionTimeoutMS=settings.mongodb_timeout_ms, tz_aware=True
    )
    producer = EventProducer(settings.kafka_bootstrap_servers, client_id="product-seed")
    own_http = http is None
    http = http or httpx.AsyncClient(timeout=settings.http_timeout_seconds)
    try:
        repository = ProductRepository(
            client,
            settings.mongodb_db,
            serialize_transactions=settings.mongodb_serialize_transactions,
        )
        await repository.ensure_indexes()
        service = ProductService(repository, settings)
        for item in load_catalog():
            product = await service.find_by_name(item.name)
            if product is None:
                product = await service.create(item)
                report.created.append(product.id)
            else:
                report.existing.append(product.id)
            if not with_inventory:
                continue
            try:
                outcome = await create_inventory_row(http, settings.inventory_service_url, product)
            except httpx.HTTPError as exc:
                log.warning("seed.inventory_failed", product_id=product.id, error=str(exc))
                report.inventory_failed.append(product.id)
                continue
            if outcome == "created":
                report.inventory_created += 1
            else:
                report.inventory_existing += 1
        report.events_published = await _publish(repository, producer)
    finally:
        if own_http:
            await http.aclose()
        await producer.stop()
        await client.close()
    return report


async def _publish(repository: ProductRepository, producer: EventProducer) -> int:
    relay = MongoOutboxRelay(
        repository.outbox, producer, publish_timeout=5, isolation_lock=repository.transaction_lock
    )
    try:
        async with asyncio.timeout(PUBLISH_WINDOW_SECONDS):
            return await relay.drain()
    except Exception as exc:
        # The events are safe in the outbox; product-service's relay publishes them.
        log.warning("seed.publish_deferred", error=str(exc) or type(exc).__name__)
        return relay.published


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m product_service.seed", description=__doc__)
    parser.add_argument(
        "--skip-inventory", action="store_true", help="do not create inventory rows"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging("product-seed", settings.log_level, settings.log_format)
    report = asyncio.run(seed(settings, with_inventory=not args.skip_inventory))
    summary: dict[str, Any] = {
        "products_created": len(report.created),
        "products_existing": len(report.existing),
        "inventory_created": report.inventory_created,
        "inventory_existing": report.inventory_existing,
        "inventory_failed": len(report.inventory_failed),
        "events_published": report.events_published,
    }
    log.info("seed.done", **summary)
    return 1 if report.inventory_failed else 0


if __name__ == "__main__":
    sys.exit(main())
