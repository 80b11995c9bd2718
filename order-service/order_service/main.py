"""order-service: wiring only. `uvicorn order_service.main:app --port 8002`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker

from chassis import create_app
from chassis.kafka import EventProducer
from chassis.outbox import OutboxRelay
from chassis.postgres import create_engine, ping
from order_service.api import router
from order_service.clients.inventory import InventoryClient
from order_service.config import Settings
from order_service.migrate import upgrade_database
from order_service.models import outbox
from order_service.service import OrderService


def build_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        if settings.run_migrations:
            await upgrade_database(engine)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        app.state.engine = engine
        # One pooled client for the whole process.
        inventory = InventoryClient(
            settings.inventory_service_url,
            timeout_seconds=settings.inventory_timeout_seconds,
            attempts=settings.inventory_retry_attempts,
            backoff_seconds=settings.inventory_retry_backoff_seconds,
            backoff_max_seconds=settings.inventory_retry_backoff_max_seconds,
            breaker_failure_threshold=settings.inventory_breaker_failure_threshold,
            breaker_reset_seconds=settings.inventory_breaker_reset_seconds,
            max_connections=settings.inventory_max_connections,
        )
        orders = OrderService(sessions, inventory, settings)
        app.state.orders = orders
        app.state.inventory = inventory

        producer = EventProducer(settings.kafka_bootstrap_servers, client_id=settings.service_name)
        relay = OutboxRelay(engine, outbox, producer)
        app.state.relay = relay
        if settings.run_outbox_relay:
            await relay.start()
        try:
            yield
        finally:
            if settings.run_outbox_relay:
                await relay.stop()
            await producer.stop()
            await orders.drain(settings.inventory_timeout_seconds)
            await inventory.close()
            await engine.dispose()

    app = create_app(
        settings,
        title="order-service",
        description="Orders: stock reserved at inventory-service, events through the outbox.",
        lifespan=lifespan,
        readiness_checks=lambda: {"database": lambda: ping(app.state.engine)},
    )
    app.include_router(router)
    return app


app = build_app(Settings())
