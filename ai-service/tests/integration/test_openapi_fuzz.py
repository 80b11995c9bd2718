"""Property-based fuzzing from the service's own OpenAPI document: whatever schemathesis
sends, ai-service (under uvicorn, LLM_PROVIDER=local, catalog from product-updated events,
product-service away) never answers 5xx."""

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from chassis.events import new_event
from chassis.kafka import EventProducer
from devstack import start_service
from devstack.asyncbridge import run_sync
from devstack.provisioning import create_topics
from devstack.services import free_port

from .conftest import CATALOG


async def _publish_catalog(bootstrap: str, topic: str) -> None:
    producer = EventProducer(bootstrap)
    try:
        for doc in CATALOG:
            data = {
                "op": "upsert",
                "product_id": doc["id"],
                "version": doc["version"],
                "product": {**doc, "price": Decimal(str(doc["price"]))},
            }
            await producer.publish(topic, new_event(topic, "product-service", doc["id"], data))
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def running_ai(local_redis: str, local_kafka: str) -> Iterator[str]:
    products_topic = f"product-updated-fuzz-{uuid.uuid4().hex[:8]}"
    run_sync(create_topics(local_kafka, {products_topic: 1, f"{products_topic}.dlq": 1}))
    run_sync(_publish_catalog(local_kafka, products_topic))
    env = {
        "REDIS_URL": local_redis,
        "REDIS_KEY_PREFIX": f"ai-fuzz-{uuid.uuid4().hex[:8]}",
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        # Nothing listens there: the loader keeps retrying while the API serves.
        "PRODUCT_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
        "TOPIC_PRODUCT_UPDATED": products_topic,
        "TOPIC_ORDER_PLACED": f"order-placed-fuzz-{uuid.uuid4().hex[:8]}",
        "CONSUMER_GROUP": f"ai-fuzz-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
    }
    with start_service("ai-service", env=env, profile="test") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def ai_schema(running_ai: str) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_url(f"{running_ai}/openapi.json")


schema = schemathesis.pytest.from_fixture("ai_schema")


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
def test_no_input_makes_ai_answer_5xx(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error], timeout=10)
