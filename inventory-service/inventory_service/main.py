"""inventory-service: wiring only. `uvicorn inventory_service.main:app --port 8003`."""

from fastapi import FastAPI

from chassis import create_app
from chassis.kafka import EventConsumer, EventProducer
from chassis.lifecycle import Components
from chassis.outbox import OutboxRelay
from chassis.postgres import create_engine
from inventory_service.api import router
from inventory_service.config import Settings
from inventory_service.migrate import upgrade_database
from inventory_service.models import outbox
from inventory_service.repository import InventoryRepository
from inventory_service.service import InventoryService
from inventory_service.sweeper import ReservationSweeper


def build_app(settings: Settings) -> FastAPI:
    async def setup(app: FastAPI, components: Components) -> None:
        repository = InventoryRepository(create_engine(settings))
        components.add("database", stop=repository.close, ready=repository.ping)
        if settings.run_migrations:
            await upgrade_database(repository.engine)
        service = InventoryService(repository, settings)
        app.state.inventory = service

        producer = EventProducer(settings.kafka_bootstrap_servers, client_id=settings.service_name)
        components.add("producer", stop=producer.stop)
        components.add_worker(
            "reservation-sweeper",
            ReservationSweeper(service, settings.reservation_sweep_interval_seconds),
        )
        relay = OutboxRelay(repository.engine, outbox, producer)
        components.add_worker("outbox-relay", relay, enabled=settings.run_outbox_relay)
        consumer = EventConsumer.from_settings(
            settings,
            [
                settings.topic_order_placed,
                settings.topic_order_cancelled,
                settings.topic_order_status_changed,
                settings.topic_product_updated,
            ],
            service.handle_event,
            # PostgreSQL being away is not the event's fault: the chassis registry
            # (chassis.dependencies) makes the loop pause, never dead-letter it.
            producer_for_dlq=producer,
        )
        components.add_worker("consumer", consumer, enabled=settings.run_event_consumer)

    app = create_app(
        settings,
        title="inventory-service",
        description="Stock levels and all-or-nothing reservations for orders.",
        setup=setup,
    )
    app.include_router(router)
    return app


app = build_app(Settings())
