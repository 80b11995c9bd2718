"""`python -m product_service.seed`: the demo catalog loads once, through the service layer
(events fire), with one inventory row per product, however often it runs."""

import json
import uuid

import httpx
from pymongo import AsyncMongoClient

from product_service.config import Settings
from product_service.seed import load_catalog, seed


class FakeInventory:
    """inventory-service's POST /api/inventory: 201 the first time, 409 after."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/api/inventory")
        body = json.loads(request.content)
        if body["product_id"] in self.rows:
            return httpx.Response(409, json={"detail": "already exists"})
        self.rows[body["product_id"]] = body
        return httpx.Response(201, json=body)


async def test_seed_is_idempotent_creates_inventory_and_publishes_events(
    local_mongo, local_kafka
) -> None:
    settings = Settings(
        mongodb_url=local_mongo,
        mongodb_db=f"product_seed_{uuid.uuid4().hex[:8]}",
        kafka_bootstrap_servers=local_kafka,
        topic_product_updated=f"product-updated-seed-{uuid.uuid4().hex[:8]}",
        inventory_service_url="http://inventory.test",
    )
    catalog = load_catalog()
    inventory = FakeInventory()
    mongo: AsyncMongoClient = AsyncMongoClient(local_mongo)
    try:
        async with httpx.AsyncClient(transport=httpx.MockTransport(inventory.handle)) as http:
            first = await seed(settings, http=http)
            second = await seed(settings, http=http)
        assert len(catalog) >= 30
        assert len({p.category for p in catalog}) >= 5
        assert (len(first.created), len(first.existing)) == (len(catalog), 0)
        assert (len(second.created), len(second.existing)) == (0, len(catalog))
        assert (first.inventory_created, second.inventory_existing) == (len(catalog),) * 2
        assert first.events_published == len(catalog)
        db = mongo[settings.mongodb_db]
        assert await db["products"].count_documents({}) == len(catalog)
        assert await db["outbox"].count_documents({"sent_at": {"$eq": None}}) == 0
        assert set(inventory.rows) == set(first.created)
        row = next(iter(inventory.rows.values()))
        assert set(row) == {"product_id", "product_name", "quantity"}
    finally:
        await mongo.drop_database(settings.mongodb_db)
        await mongo.close()


async def test_seed_reports_products_whose_inventory_could_not_be_created(
    local_mongo, local_kafka
) -> None:
    settings = Settings(
        mongodb_url=local_mongo,
        mongodb_db=f"product_seed_{uuid.uuid4().hex[:8]}",
        kafka_bootstrap_servers=local_kafka,
        topic_product_updated=f"product-updated-seed-{uuid.uuid4().hex[:8]}",
    )

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    mongo: AsyncMongoClient = AsyncMongoClient(local_mongo)
    try:
        async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
            report = await seed(settings, http=http)
        assert len(report.created) == len(load_catalog())
        assert report.inventory_failed == report.created
    finally:
        await mongo.drop_database(settings.mongodb_db)
        await mongo.close()
