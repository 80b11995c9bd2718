"""Property-based fuzzing of the running service from its own OpenAPI document: whatever
schemathesis sends (valid or not), inventory-service never answers 5xx."""

import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from devstack import start_service


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


@pytest.fixture(scope="module")
def inventory_schema(running_inventory: str) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_url(f"{running_inventory}/openapi.json")


schema = schemathesis.pytest.from_fixture("inventory_schema")


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_no_input_makes_inventory_answer_5xx(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error], timeout=10)
