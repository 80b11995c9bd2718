"""product-service: wiring only. `uvicorn product_service.main:app --port 8001`."""

from fastapi import FastAPI
from pymongo import AsyncMongoClient

from chassis import create_app
from chassis.kafka import EventProducer
from chassis.lifecycle import Components
from chassis.mongo_outbox import MongoOutboxRelay
from product_service.api import router
from product_service.config import Settings
from product_service.models import Document
from product_service.repository import ProductRepository
from product_service.service import ProductService


def build_app(settings: Settings) -> FastAPI:
    async def setup(app: FastAPI, components: Components) -> None:
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            settings.mongodb_url,
            serverSelectionTimeoutMS=settings.mongodb_timeout_ms,
            connectTimeoutMS=settings.mongodb_timeout_ms,
            tz_aware=True,
        )
        repository = ProductRepository(
            client,
            settings.mongodb_db,
            serialize_transactions=settings.mongodb_serialize_transactions,
            transaction_timeout_seconds=settings.mongodb_timeout_ms * 1.5 / 1000,
        )
        components.add("mongodb", stop=client.close, ready=repository.ping)
        await repository.ensure_indexes()
        # The producer connects lazily: with Kafka down the API works and the outbox buffers.
        producer = EventProducer(settings.kafka_bootstrap_servers, client_id=settings.service_name)
        components.add("producer", stop=producer.stop)
        relay = MongoOutboxRelay(
            repository.outbox,
            producer,
            poll_interval=settings.outbox_poll_interval_seconds,
            lease=settings.outbox_lease_seconds,
            publish_timeout=settings.outbox_publish_timeout_seconds,
            isolation_lock=repository.transaction_lock,
        )
        app.state.products = ProductService(repository, settings, on_commit=relay.notify)
        components.add_worker("outbox-relay", relay, enabled=settings.run_outbox_relay)

    app = create_app(
        settings,
        title="product-service",
        description="The product catalog; every change is published as product-updated.",
        setup=setup,
    )
    app.include_router(router)
    return app


app = build_app(Settings())
