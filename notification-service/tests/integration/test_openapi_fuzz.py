"""Property-based fuzzing from the service's own OpenAPI document: whatever schemathesis
sends, notification-service (under uvicorn, real Redis) never answers 5xx."""

import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from devstack import start_service


@pytest.fixture(scope="module")
def running_notifications(local_redis: str, local_kafka: str, local_smtp) -> Iterator[str]:
    env = {
        "REDIS_URL": local_redis,
        "REDIS_KEY_PREFIX": f"notification-fuzz-{uuid.uuid4().hex[:8]}",
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        "SMTP_HOST": local_smtp.host,
        "SMTP_PORT": str(local_smtp.port),
        # Its own topics: the fuzz copy must not consume the fleet's events.
        "TOPIC_ORDER_PLACED": f"fuzz-none-{uuid.uuid4().hex[:8]}",
        "TOPIC_ORDER_CANCELLED": f"fuzz-none-{uuid.uuid4().hex[:8]}",
        "TOPIC_INVENTORY_LOW": f"fuzz-none-{uuid.uuid4().hex[:8]}",
        "TOPIC_AI_NOTIFICATION_READY": f"fuzz-none-{uuid.uuid4().hex[:8]}",
        "RUN_EVENT_CONSUMER": "false",
        "LOG_LEVEL": "WARNING",
    }
    with start_service("notification-service", env=env, profile="test") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def notification_schema(running_notifications: str) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_url(f"{running_notifications}/openapi.json")


schema = schemathesis.pytest.from_fixture("notification_schema")


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
def test_no_input_makes_notifications_answer_5xx(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error], timeout=10)
