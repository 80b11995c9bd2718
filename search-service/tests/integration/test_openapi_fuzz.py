"""Property-based fuzzing of the running service from its own OpenAPI document: whatever
schemathesis sends (valid or not), search-service never answers 5xx."""

import uuid
from collections.abc import Iterator

import pytest

from devstack import start_service
from devstack.asyncbridge import run_sync
from devstack.fuzzing import no_server_error_fuzz
from devstack.provisioning import create_topics


@pytest.fixture(scope="module")
def running_search(
    local_elasticsearch: str,
    local_kafka: str,
    fake_product_service,
    make_product,
    delete_indices,
) -> Iterator[str]:
    suffix = uuid.uuid4().hex[:8]
    alias = f"search-fuzz-{suffix}"
    topic = f"product-updated-fuzz-{suffix}"
    run_sync(create_topics(local_kafka, {topic: 1, f"{topic}.dlq": 1}))
    fake_product_service.products = [
        make_product(f"Fuzz Item {n}", price=n * 3.5, tags=["fuzz"]) for n in range(30)
    ]
    env = {
        "ELASTICSEARCH_URL": local_elasticsearch,
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        "SEARCH_INDEX_ALIAS": alias,
        "TOPIC_PRODUCT_UPDATED": topic,
        "CONSUMER_GROUP": f"search-fuzz-{suffix}",
        "PRODUCT_SERVICE_URL": fake_product_service.url,
        "REBUILD_CHECK_INTERVAL_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }
    try:
        with start_service("search-service", env=env, profile="test") as base_url:
            yield base_url
    finally:
        run_sync(delete_indices(local_elasticsearch, alias))


openapi_schema, test_no_input_makes_search_answer_5xx = no_server_error_fuzz(
    "running_search", timeout=30
)
