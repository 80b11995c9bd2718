"""Property-based fuzzing of the running service from its own OpenAPI document: whatever
schemathesis sends (valid or not), product-service never answers 5xx."""

import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pymongo import MongoClient
from schemathesis.checks import not_a_server_error

from devstack import start_service


@pytest.fixture(scope="module")
def running_product(local_mongo: str, local_kafka: str) -> Iterator[str]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "MONGODB_URL": local_mongo,
        "MONGODB_DB": f"product_fuzz_{suffix}",
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        "TOPIC_PRODUCT_UPDATED": f"product-updated-fuzz-{suffix}",
        "LOG_LEVEL": "WARNING",
    }
    with start_service("product-service", env=env, profile="test") as base_url:
        yield base_url
    with MongoClient(local_mongo) as mongo:
        mongo.drop_database(env["MONGODB_DB"])


@pytest.fixture(scope="module")
def product_schema(running_product: str) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_url(f"{running_product}/openapi.json")


schema = schemathesis.pytest.from_fixture("product_schema")


@schema.parametrize()
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_no_input_makes_product_answer_5xx(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error], timeout=10)
