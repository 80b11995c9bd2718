"""Property-based fuzzing of the running service from its own OpenAPI document: whatever
schemathesis sends (valid or not), order-service never answers 5xx. It runs under uvicorn
against the running inventory-service."""

from collections.abc import Iterator

import pytest

from devstack import start_service
from devstack.fuzzing import no_server_error_fuzz

from .conftest import Topics


@pytest.fixture(scope="module")
def running_orders(
    local_postgres, local_kafka: str, inventory_url: str, topics: Topics
) -> Iterator[str]:
    env = {
        "DATABASE_URL": local_postgres.create_database("order_fuzz"),
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        "INVENTORY_SERVICE_URL": inventory_url,
        "TOPIC_ORDER_PLACED": topics.placed,
        "TOPIC_ORDER_CANCELLED": topics.cancelled,
        "TOPIC_ORDER_STATUS_CHANGED": topics.status_changed,
        "LOG_LEVEL": "WARNING",
    }
    with start_service("order-service", env=env, profile="test") as base_url:
        yield base_url


openapi_schema, test_no_input_makes_orders_answer_5xx = no_server_error_fuzz("running_orders")
