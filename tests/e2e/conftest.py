"""Fleet-level tests: real services as uvicorn subprocesses on the local stack's test profile."""

import uuid
from collections.abc import Iterator

import pytest

from devstack import start_service
from devstack.asyncbridge import run_sync
from devstack.provisioning import create_topics

from .otlp_receiver import OtlpReceiver, running_receiver

# Spans leave each service within a fraction of a second instead of the SDK's 5 s batches.
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100", "LOG_LEVEL": "WARNING"}


@pytest.fixture(scope="session")
def otlp() -> Iterator[tuple[OtlpReceiver, str]]:
    with running_receiver() as pair:
        yield pair


@pytest.fixture(scope="session")
def fleet_topics(local_kafka: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    names = {
        "TOPIC_ORDER_PLACED": f"order-placed-e2e-{suffix}",
        "TOPIC_ORDER_CANCELLED": f"order-cancelled-e2e-{suffix}",
        "TOPIC_ORDER_STATUS_CHANGED": f"order-status-changed-e2e-{suffix}",
        "TOPIC_INVENTORY_LOW": f"inventory-low-e2e-{suffix}",
        "TOPIC_AI_NOTIFICATION_READY": f"ai-notification-ready-e2e-{suffix}",
        "TOPIC_PRODUCT_UPDATED": f"product-updated-e2e-{suffix}",
    }
    partitions = {name: 3 for name in names.values()}
    partitions.update({f"{name}.dlq": 1 for name in names.values()})
    run_sync(create_topics(local_kafka, partitions))
    return names


@pytest.fixture(scope="session")
def inventory_url(local_postgres, local_kafka, fleet_topics, otlp) -> Iterator[str]:
    env = {
        **FAST_EXPORT,
        **fleet_topics,
        "DATABASE_URL": local_postgres.create_database("e2e_inventory"),
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        "CONSUMER_GROUP": f"inventory-e2e-{uuid.uuid4().hex[:8]}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp[1],
    }
    with start_service("inventory-service", env=env, profile="test") as url:
        yield url


@pytest.fixture(scope="session")
def order_url(local_postgres, local_kafka, fleet_topics, otlp, inventory_url) -> Iterator[str]:
    env = {
        **FAST_EXPORT,
        **fleet_topics,
        "DATABASE_URL": local_postgres.create_database("e2e_order"),
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        "INVENTORY_SERVICE_URL": inventory_url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp[1],
    }
    with start_service("order-service", env=env, profile="test") as url:
        yield url


@pytest.fixture(scope="session")
def notification_url(local_kafka, local_redis, local_smtp, fleet_topics, otlp) -> Iterator[str]:
    env = {
        **FAST_EXPORT,
        **fleet_topics,
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        "REDIS_URL": local_redis,
        "REDIS_KEY_PREFIX": f"notification-e2e-{uuid.uuid4().hex[:8]}",
        "SMTP_HOST": local_smtp.host,
        "SMTP_PORT": str(local_smtp.port),
        "CONSUMER_GROUP": f"notification-e2e-{uuid.uuid4().hex[:8]}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp[1],
    }
    with start_service("notification-service", env=env, profile="test") as url:
        yield url


@pytest.fixture(scope="session")
def gateway_url(local_redis, otlp, order_url, inventory_url, notification_url) -> Iterator[str]:
    env = {
        **FAST_EXPORT,
        "REDIS_URL": local_redis,
        "ORDER_SERVICE_URL": order_url,
        "INVENTORY_SERVICE_URL": inventory_url,
        "NOTIFICATION_SERVICE_URL": notification_url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp[1],
    }
    with start_service("api-gateway", env=env, profile="test") as url:
        yield url


@pytest.fixture(scope="session")
def product_url(local_mongo, local_kafka, fleet_topics, otlp, inventory_url) -> Iterator[str]:
    env = {
        **FAST_EXPORT,
        **fleet_topics,
        "MONGODB_URL": local_mongo,
        "MONGODB_DB": f"product_e2e_{uuid.uuid4().hex[:8]}",
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        "INVENTORY_SERVICE_URL": inventory_url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp[1],
    }
    with start_service("product-service", env=env, profile="test") as url:
        yield url


@pytest.fixture(scope="session")
def search_url(local_elasticsearch, local_kafka, fleet_topics, otlp, product_url) -> Iterator[str]:
    env = {
        **FAST_EXPORT,
        **fleet_topics,
        "ELASTICSEARCH_URL": local_elasticsearch,
        "SEARCH_INDEX_ALIAS": f"products-e2e-{uuid.uuid4().hex[:8]}",
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        "CONSUMER_GROUP": f"search-e2e-{uuid.uuid4().hex[:8]}",
        "PRODUCT_SERVICE_URL": product_url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp[1],
    }
    with start_service("search-service", env=env, profile="test") as url:
        yield url


@pytest.fixture(scope="session")
def secured_gateway_url(
    local_redis,
    local_oidc,
    otlp,
    order_url,
    inventory_url,
    notification_url,
    product_url,
    search_url,
) -> Iterator[str]:
    """The gateway as deployed: AUTH_ENABLED=true against the local OIDC provider."""
    env = {
        **FAST_EXPORT,
        "AUTH_ENABLED": "true",
        "OIDC_ISSUER_URL": local_oidc,
        "REDIS_URL": local_redis,
        "RATE_LIMIT_KEY_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}",
        "PRODUCT_SERVICE_URL": product_url,
        "ORDER_SERVICE_URL": order_url,
        "INVENTORY_SERVICE_URL": inventory_url,
        "NOTIFICATION_SERVICE_URL": notification_url,
        "SEARCH_SERVICE_URL": search_url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp[1],
    }
    with start_service("api-gateway", env=env, profile="test") as url:
        yield url


@pytest.fixture(scope="session")
def ai_url(local_kafka, fleet_topics, otlp, product_url) -> Iterator[str]:
    with start_service(
        "ai-service", env=ai_env(local_kafka, fleet_topics, otlp, product_url), profile="test"
    ) as url:
        yield url


def ai_env(
    kafka: str, topics: dict[str, str], otlp: tuple[OtlpReceiver, str], product_url: str
) -> dict[str, str]:
    return {
        **FAST_EXPORT,
        **topics,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "CONSUMER_GROUP": f"ai-e2e-{uuid.uuid4().hex[:8]}",
        "PRODUCT_SERVICE_URL": product_url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp[1],
    }


def shop_gateway_env(
    redis: str, otlp: tuple[OtlpReceiver, str], upstreams: dict[str, str], **extra: str
) -> dict[str, str]:
    """The gateway the storefront's browser journeys use: every upstream, and a rate limit
    above what a test clicking at machine speed needs (a person stays far below 60/min)."""
    return {
        **FAST_EXPORT,
        "REDIS_URL": redis,
        "RATE_LIMIT_DEFAULT": "1000/minute",
        "RATE_LIMIT_AI": "200/minute",
        "RATE_LIMIT_KEY_PREFIX": f"shop-e2e-{uuid.uuid4().hex[:8]}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp[1],
        **upstreams,
        **extra,
    }


@pytest.fixture(scope="session")
def fleet_upstreams(
    product_url, order_url, inventory_url, notification_url, search_url, ai_url
) -> dict[str, str]:
    return {
        "PRODUCT_SERVICE_URL": product_url,
        "ORDER_SERVICE_URL": order_url,
        "INVENTORY_SERVICE_URL": inventory_url,
        "NOTIFICATION_SERVICE_URL": notification_url,
        "SEARCH_SERVICE_URL": search_url,
        "AI_SERVICE_URL": ai_url,
    }


@pytest.fixture(scope="session")
def shop_url(local_redis, otlp, fleet_upstreams) -> Iterator[str]:
    """The storefront with AUTH_ENABLED=false: shoppers give a name and an email."""
    with start_service(
        "api-gateway", env=shop_gateway_env(local_redis, otlp, fleet_upstreams), profile="test"
    ) as url:
        yield url


@pytest.fixture(scope="session")
def secured_shop_url(local_redis, local_oidc, otlp, fleet_upstreams) -> Iterator[str]:
    """The storefront as deployed: sign-in against the local OIDC provider, tokens checked."""
    env = shop_gateway_env(
        local_redis, otlp, fleet_upstreams, AUTH_ENABLED="true", OIDC_ISSUER_URL=local_oidc
    )
    with start_service("api-gateway", env=env, profile="test") as url:
        yield url
