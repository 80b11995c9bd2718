"""Property-based fuzzing of the running service from its own OpenAPI document: whatever
schemathesis sends (valid or not), inventory-service never answers 5xx."""

import uuid
from collections.abc import Iterator

import pytest

from devstack import start_service
from devstack.fuzzing import no_server_error_fuzz


@pytest.fixture(scope="module")
def running_inventory(local_postgres, local_kafka: str) -> Iterator[str]:
    env = {
        "DATABASE_URL": local_postgres.create_database("inventory_fuzz"),
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        "CONSUMER_GROUP": f"inventory-fuzz-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
    }
    with start_service("inventory-service", env=env, profile="test") as base_url:
        yield base_url


openapi_schema, test_no_input_makes_inventory_answer_5xx = no_server_error_fuzz("running_inventory")
