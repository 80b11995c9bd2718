"""How the consumer treats what the handler raises: bad data is poison (dead-lettered after the
retries), Elasticsearch being away is transient (the record is read again, never parked)."""

from typing import Any

import pytest
from aiokafka import ConsumerRecord
from elasticsearch import ConnectionError as ESConnectionError

from chassis.events import encode_event, new_event
from chassis.kafka import EventConsumer
from search_service.config import Settings
from search_service.repository import SearchUnavailable
from search_service.service import PoisonEvent, SearchService


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []

    async def publish_raw(
        self, topic: str, value: bytes, key: bytes | None, headers: Any = ()
    ) -> None:
        self.sent.append((topic, value, list(headers)))


def _record(data: dict[str, Any]) -> ConsumerRecord:  # type: ignore[type-arg]
    event = new_event("product-updated", "product-service", "65a1f0c2e4b0a1b2c3d4e5f6", data)
    return ConsumerRecord(
        topic="product-updated",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=b"65a1f0c2e4b0a1b2c3d4e5f6",
        value=encode_event(event),
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=[],
    )


def _consumer(handler: Any, producer: FakeProducer) -> EventConsumer:
    return EventConsumer(
        "unused:9092",
        "search-test",
        ["product-updated"],
        handler,
        producer_for_dlq=producer,  # type: ignore[arg-type]
        max_attempts=2,
        backoff_initial=0.001,
        backoff_max=0.002,
    )


async def test_event_with_bad_data_is_dead_lettered() -> None:
    service = SearchService(index=None, catalog=None, settings=Settings())  # type: ignore[arg-type]
    producer = FakeProducer()
    consumer = _consumer(service.handle_product_event, producer)
    await consumer.process_record(
        _record({"op": "upsert", "product_id": "65a1f0c2e4b0a1b2c3d4e5f6", "version": 1})
    )
    assert len(producer.sent) == 1
    topic, _, headers = producer.sent[0]
    assert topic == "product-updated.dlq"
    assert dict(headers)["x-error-type"] == PoisonEvent.__name__.encode()


@pytest.mark.parametrize(
    "error",
    [SearchUnavailable(), ESConnectionError("refused"), TimeoutError()],
    ids=["search-unavailable", "es-connection-error", "timeout"],
)
async def test_elasticsearch_down_is_transient_not_poison(error: Exception) -> None:
    async def handler(event: Any) -> None:
        raise error

    producer = FakeProducer()
    consumer = _consumer(handler, producer)
    with pytest.raises(type(error)):
        await consumer.process_record(
            _record({"op": "delete", "product_id": "65a1f0c2e4b0a1b2c3d4e5f6", "version": 1})
        )
    assert producer.sent == []
