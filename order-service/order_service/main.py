"""order-service: wiring only. `uvicorn order_service.main:app --port 8002`."""

from fastapi import FastAPI

from chassis import create_app
from chassis.kafka import EventProducer
from chassis.lifecycle import Components
from chassis.outbox import OutboxRelay
from chassis.postgres import create_engine
from chassis.resilience import CallPolicy
from order_service.api import router
from order_service.clients.inventory import InventoryClient
from order_service.config import Settings
from order_service.migrate import upgrade_database
from order_service.models import outbox
from order_service.repository import OrderRepository
from order_service.service import OrderService


def build_app(settings: Settings) -> FastAPI:
    async def setup(app: FastAPI, components: Components) -> None:
        repository = OrderRepository(create_engine(settings))
        components.add("database", stop=repository.close, ready=repository.ping)
        if settings.run_migrations:
            await upgrade_database(repository.engine)
        # One pooled client for the whole process.
        inventory = InventoryClient(
            settings.inventory_service_url,
            policy=CallPolicy.from_settings(settings, "inventory"),
            max_connections=settings.inventory_max_connections,
        )
        components.add("inventory-service", stop=inventory.close)
        orders = OrderService(repository, inventory, settings)
        app.state.orders = orders
        # At shutdown the confirmations under way finish before the client they use closes.
        components.add(
            "order-confirmations", stop=lambda: orders.drain(settings.inventory_timeout_seconds)
        )

        producer = EventProducer(settings.kafka_bootstrap_servers, client_id=settings.service_name)
        components.add("producer", stop=producer.stop)
        relay = OutboxRelay(repository.engine, outbox, producer)
        components.add_worker("outbox-relay", relay, enabled=settings.run_outbox_relay)

    app = create_app(
        settings,
        title="order-service",
        description="Orders: stock reserved at inventory-service, events through the outbox.",
        setup=setup,
    )
    app.include_router(router)
    return app


app = build_app(Settings())
