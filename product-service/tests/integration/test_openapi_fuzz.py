"""Property-based fuzzing of the running service from its own OpenAPI document: whatever
schemathesis sends (valid or not), product-service never answers 5xx."""

import uuid
from collections.abc import Iterator

import pytest
from pymongo import MongoClient

from devstack import start_service
from devstack.fuzzing import no_server_error_fuzz


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


openapi_schema, test_no_input_makes_product_answer_5xx = no_server_error_fuzz(
    "running_product", max_examples=80
)
