"""inventory-service: wiring only. `uvicorn inventory_service.main:app --port 8003`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker

from chassis import create_app
from chassis.kafka import EventConsumer, EventProducer
from chassis.outbox import OutboxRelay
from chassis.postgres import create_engine, ping
from inventory_service.api import router
from inventory_service.config import Settings
from inventory_service.migrate import upgrade_database
from inventory_service.models import outbox
from inventory_service.service import InventoryService
from inventory_service.sweeper import ReservationSweeper


def build_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        if settings.run_migrations:
            await upgrade_database(engine)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        app.state.engine = engine
        service = InventoryService(sessions, settings)
        app.state.inventory = service

        producer = EventProducer(settings.kafka_bootstrap_servers, client_id=settings.service_name)
        relay = OutboxRelay(engine, outbox, producer)
        consumer = EventConsumer(
            settings.kafka_bootstrap_servers,
            settings.consumer_group,
            [
                settings.topic_order_placed,
                settings.topic_order_cancelled,
                settings.topic_order_status_changed,
                settings.topic_product_updated,
            ],
            service.handle_event,
            producer_for_dlq=producer,
            # PostgreSQL being away is not the event's fault: the chassis registry
            # (chassis.dependencies) makes the loop pause, never dead-letter it.
            idle_pause_ms=settings.kafka_consumer_idle_pause_ms,
            group_instance_id=settings.consumer_instance_id,
        )
        sweeper = ReservationSweeper(service, settings.reservation_sweep_interval_seconds)
        sweeper.start()
        if settings.run_outbox_relay:
            await relay.start()
        if settings.run_event_consumer:
            await consumer.start()
        try:
            yield
        finally:
            if settings.run_event_consumer:
                await consumer.stop()
            if settings.run_outbox_relay:
                await relay.stop()
            await sweeper.stop()
            await producer.stop()
            await engine.dispose()

    app = create_app(
        settings,
        title="inventory-service",
        description="Stock levels and all-or-nothing reservations for orders.",
        lifespan=lifespan,
        readiness_checks=lambda: {"database": lambda: ping(app.state.engine)},
    )
    app.include_router(router)
    return app


app = build_app(Settings())
