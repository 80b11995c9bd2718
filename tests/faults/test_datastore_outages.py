"""Each datastore stopped and started again under a real service (issue 10, defect 9):
while it is down the service answers 503 with a sentence, fast; its consumers pause (nothing is
dead-lettered); once it is back everything recovers by itself and nothing placed is lost.

The datastore is always a private copy on a free port (`_servers.private_infra`): the shared
PostgreSQL and Redis of the test stack are never stopped. Kafka and the SMTP sink are the test
stack's (DEVSTACK_PORT_OFFSET), with topics of each case's own."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

import httpx
import pytest

from chassis.events import decode_event, encode_event, new_event
from devstack import start_service
from devstack.asyncbridge import run_sync

from ._servers import (
    count_records,
    fleet_topics,
    private_infra,
    reserve_urls,
    start_all,
    wait_for,
)
from .recording import record_case

pytestmark = pytest.mark.integration

QUIET = {"LOG_LEVEL": "WARNING"}
# A 503 must come back well before a client would give up.
FAST_SECONDS = 3.0


def read_events(kafka: str, topic: str) -> list[Any]:
    from aiokafka import AIOKafkaConsumer

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        try:
            batches = await consumer.getmany(timeout_ms=2000, max_records=100_000)
            return [decode_event(r.value) for records in batches.values() for r in records]
        finally:
            await consumer.stop()

    return run_sync(read())


def publish(kafka: str, topic: str, events: list[Any]) -> None:
    from aiokafka import AIOKafkaProducer

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
        await producer.start()
        try:
            for event in events:
                await producer.send_and_wait(topic, encode_event(event), key=event.subject.encode())
        finally:
            await producer.stop()

    run_sync(send())


def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    reply = call()
    return reply, time.monotonic() - started


def assert_outage_reply(reply: httpx.Response, seconds: float, what: str) -> None:
    assert reply.status_code == 503, f"{what}: {reply.status_code} {reply.text[:300]}"
    detail = reply.json()["detail"]
    assert isinstance(detail, str), detail
    assert "unavailable" in detail.lower(), detail
    assert seconds < FAST_SECONDS, f"{what} took {seconds:.2f}s to answer 503"


# -- PostgreSQL under order-service and inventory-service ---------------------------------------


def test_postgres_outage_is_503_then_recovers_with_nothing_lost(local_kafka: str) -> None:
    topics = fleet_topics(local_kafka, "pg")
    with private_infra({"postgres"}) as infra:
        urls = reserve_urls("inventory-service", "order-service")
        inventory, orders = urls["inventory-service"][1], urls["order-service"][1]
        base = {**QUIET, **topics, "KAFKA_BOOTSTRAP_SERVERS": local_kafka}
        with ExitStack() as stack:
            start_all(
                stack,
                {
                    "inventory-service": (
                        urls["inventory-service"][0],
                        {
                            **base,
                            "DATABASE_URL": infra.postgres_url("inventory_faults"),
                            "CONSUMER_GROUP": f"inventory-faults-{uuid.uuid4().hex[:8]}",
                        },
                    ),
                    "order-service": (
                        urls["order-service"][0],
                        {
                            **base,
                            "DATABASE_URL": infra.postgres_url("order_faults"),
                            "INVENTORY_SERVICE_URL": inventory,
                        },
                    ),
                },
            )
            with httpx.Client(timeout=15) as http:
                product = f"fault-pg-{uuid.uuid4().hex[:6]}"
                created = http.post(
                    f"{inventory}/api/inventory",
                    json={"product_id": product, "product_name": "Fault lamp", "quantity": 1000},
                )
                assert created.status_code == 201, created.text

                def order() -> httpx.Response:
                    return http.post(
                        f"{orders}/api/orders",
                        json={
                            "customer_name": "Ada",
                            "customer_email": "ada@example.com",
                            "items": [
                                {
                                    "product_id": product,
                                    "product_name": "Fault lamp",
                                    "quantity": 1,
                                    "unit_price": 9.5,
                                }
                            ],
                        },
                    )

                placed: list[str] = []
                for _ in range(5):
                    reply = order()
                    assert reply.status_code == 201, reply.text
                    placed.append(reply.json()["id"])

                infra.stop_component("postgres")
                down_order, order_s = timed(order)
                down_stock, stock_s = timed(
                    lambda: http.get(f"{inventory}/api/inventory/{product}")
                )
                down_read, read_s = timed(lambda: http.get(f"{orders}/api/orders/{placed[0]}"))
                assert_outage_reply(down_order, order_s, "POST /api/orders")
                assert_outage_reply(down_stock, stock_s, "GET /api/inventory/{id}")
                assert_outage_reply(down_read, read_s, "GET /api/orders/{id}")

                infra.start_component("postgres")
                back = time.monotonic()
                first = wait_for(
                    lambda: (r := order()).status_code == 201 and r,
                    timeout=30,
                    what="an order accepted after PostgreSQL came back",
                )
                recovery_s = time.monotonic() - back
                placed.append(first.json()["id"])
                for _ in range(4):
                    reply = order()
                    assert reply.status_code == 201, reply.text
                    placed.append(reply.json()["id"])

                for order_id in placed:
                    assert http.get(f"{orders}/api/orders/{order_id}").status_code == 200
                    reservation = http.get(f"{inventory}/api/inventory/reservations/{order_id}")
                    assert reservation.json()["status"] == "CONFIRMED", reservation.text
                topic = topics["TOPIC_ORDER_PLACED"]
                events = wait_for(
                    lambda: (
                        (e := read_events(local_kafka, topic))
                        and len({x.subject for x in e}) >= len(placed)
                        and e
                    ),
                    timeout=30,
                    what="every order-placed event on the topic",
                )
                stock = http.get(f"{inventory}/api/inventory/{product}").json()
    per_order = Counter(str(e.subject) for e in events)
    delivered = len(set(per_order) & set(placed))
    dead = count_records(local_kafka, f"{topic}.dlq")
    record_case(
        "postgres_outage",
        placed=len(placed),
        delivered=delivered,
        duplicates=sum(n - 1 for n in per_order.values()),
        lost=len(placed) - delivered,
        recovery_s=recovery_s,
        first_503_s=round(max(order_s, stock_s, read_s), 3),
        dead_lettered=dead,
    )
    assert delivered == len(placed)
    assert dead == 0
    assert stock["reserved_qty"] + stock["available_qty"] == 1000
    assert stock["available_qty"] == 1000 - len(placed)


# -- Redis under notification-service (and the gateway's rate limits) ---------------------------


def _order_event(topic: str, email: str, number: int) -> Any:
    order_id = str(uuid.uuid4())
    return new_event(
        topic,
        "order-service",
        order_id,
        {
            "order_id": order_id,
            "order_number": f"ORD-FAULT-{number:04d}",
            "customer_name": "Grace",
            "customer_email": email,
            "total_amount": Decimal("12.50"),
            "items": [
                {
                    "product_id": "p-1",
                    "product_name": "Pen",
                    "quantity": 1,
                    "unit_price": Decimal("12.50"),
                }
            ],
        },
    )


def test_redis_outage_pauses_emails_then_sends_each_once(
    local_kafka: str, local_smtp: Any, local_oidc: str
) -> None:
    topics = fleet_topics(local_kafka, "redis")
    topic = topics["TOPIC_ORDER_PLACED"]
    email = f"redis-fault-{uuid.uuid4().hex[:8]}@example.com"
    with private_infra({"redis"}) as infra:
        env = {
            **QUIET,
            **topics,
            "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
            "REDIS_URL": infra.redis_url,
            "SMTP_HOST": local_smtp.host,
            "SMTP_PORT": str(local_smtp.port),
            "CONSUMER_GROUP": f"notification-faults-{uuid.uuid4().hex[:8]}",
        }
        urls = reserve_urls("notification-service", "api-gateway")
        notifications, gateway = urls["notification-service"][1], urls["api-gateway"][1]
        with ExitStack() as stack:
            start_all(
                stack,
                {
                    "notification-service": (urls["notification-service"][0], env),
                    "api-gateway": (
                        urls["api-gateway"][0],
                        {
                            **QUIET,
                            "REDIS_URL": infra.redis_url,
                            "NOTIFICATION_SERVICE_URL": notifications,
                        },
                    ),
                },
            )
            http = stack.enter_context(httpx.Client(timeout=15))
            before = [_order_event(topic, email, n) for n in range(3)]
            publish(local_kafka, topic, before)
            wait_for(
                lambda: len(local_smtp.messages(to=email)) >= 3,
                timeout=30,
                what="the first three emails",
            )

            infra.stop_component("redis")
            down, down_s = timed(
                lambda: http.get(f"{notifications}/api/notifications", params={"email": email})
            )
            assert_outage_reply(down, down_s, "GET /api/notifications")
            # Through the gateway: the limiter cannot count (Redis refused), so the documented
            # default lets the request through (fail-open) and the service's 503 comes back.
            via_gateway = http.get(f"{gateway}/api/notifications", params={"email": email})
            assert via_gateway.status_code == 503, via_gateway.text
            during = [_order_event(topic, email, n) for n in range(3, 6)]
            publish(local_kafka, topic, during)
            time.sleep(2)  # the consumer meets the outage: it must pause, not send or park
            assert len(local_smtp.messages(to=email)) == 3

            infra.start_component("redis")
            back = time.monotonic()
            wait_for(
                lambda: (
                    http.get(
                        f"{notifications}/api/notifications", params={"email": email}
                    ).status_code
                    == 200
                ),
                timeout=30,
                what="notifications readable again",
            )
            recovery_s = time.monotonic() - back
            wait_for(
                lambda: len(local_smtp.messages(to=email)) >= 6,
                timeout=45,
                what="the emails of the events published during the outage",
            )
            time.sleep(1)  # a duplicate would arrive now
            metrics = http.get(f"{gateway}/metrics").text
    mails = local_smtp.messages(to=email)
    numbers = Counter(m.subject for m in mails)
    dead = count_records(local_kafka, f"{topic}.dlq")
    duplicates = sum(n - 1 for n in numbers.values())
    record_case(
        "redis_outage",
        placed=6,
        delivered=len(numbers),
        duplicates=duplicates,
        lost=6 - len(numbers),
        recovery_s=recovery_s,
        first_503_s=round(down_s, 3),
        dead_lettered=dead,
    )
    assert len(numbers) == 6
    assert duplicates == 0
    assert dead == 0
    assert 'rate_limit_degraded_total{outcome="allowed",reason="redis_down"}' in metrics


# -- MongoDB (the nx-27017 stand-in) under product-service --------------------------------------


def test_mongodb_outage_is_503_then_recovers_with_nothing_lost(local_kafka: str) -> None:
    topics = fleet_topics(local_kafka, "mongo")
    with private_infra({"mongodb"}) as infra:
        env = {
            **QUIET,
            **topics,
            "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
            "MONGODB_URL": infra.mongodb_url,
            "MONGODB_DB": "product_faults",
            "MONGODB_TIMEOUT_MS": "1000",
        }
        with (
            start_service("product-service", env=env) as products,
            httpx.Client(timeout=15) as http,
        ):

            def create(n: int) -> httpx.Response:
                return http.post(
                    f"{products}/api/products",
                    json={
                        "name": f"Fault kettle {n}",
                        "price": 20 + n,
                        "category": "Kitchen",
                        "stock_quantity": 3,
                    },
                )

            ids = []
            for n in range(3):
                reply = create(n)
                assert reply.status_code == 201, reply.text
                ids.append(reply.json()["id"])

            infra.stop_component("mongodb")
            down_list, list_s = timed(lambda: http.get(f"{products}/api/products"))
            down_write, write_s = timed(lambda: create(99))
            assert_outage_reply(down_list, list_s, "GET /api/products")
            assert_outage_reply(down_write, write_s, "POST /api/products")

            infra.start_component("mongodb")
            back = time.monotonic()
            wait_for(
                lambda: http.get(f"{products}/api/products").status_code == 200,
                timeout=30,
                what="products readable again",
            )
            recovery_s = time.monotonic() - back
            for n in range(3, 6):
                reply = create(n)
                assert reply.status_code == 201, reply.text
                ids.append(reply.json()["id"])
            found = [http.get(f"{products}/api/products/{i}").status_code for i in ids]
            topic = topics["TOPIC_PRODUCT_UPDATED"]
            events = wait_for(
                lambda: (
                    (e := read_events(local_kafka, topic))
                    and len({str(x.subject) for x in e} & set(ids)) >= len(ids)
                    and e
                ),
                timeout=30,
                what="every product-updated event",
            )
    subjects = Counter(str(e.subject) for e in events)
    delivered = len(set(subjects) & set(ids))
    record_case(
        "mongodb_outage",
        placed=len(ids),
        delivered=delivered,
        duplicates=sum(n - 1 for n in subjects.values()),
        lost=len(ids) - delivered,
        recovery_s=recovery_s,
        first_503_s=round(max(list_s, write_s), 3),
    )
    assert found == [200] * len(ids)
    assert delivered == len(ids)


# -- Elasticsearch (the noida-db stand-in) under search-service ---------------------------------


def test_elasticsearch_outage_is_503_and_indexing_pauses(
    local_kafka: str, local_mongo: str
) -> None:
    topics = fleet_topics(local_kafka, "es")
    topic = topics["TOPIC_PRODUCT_UPDATED"]
    with private_infra({"elasticsearch"}) as infra:
        product_env = {
            **QUIET,
            **topics,
            "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
            "MONGODB_URL": local_mongo,
            "MONGODB_DB": f"product_es_faults_{uuid.uuid4().hex[:8]}",
        }
        urls = reserve_urls("product-service", "search-service")
        products, search = urls["product-service"][1], urls["search-service"][1]
        search_env = {
            **QUIET,
            **topics,
            "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
            "ELASTICSEARCH_URL": infra.elasticsearch_url,
            "ELASTICSEARCH_TIMEOUT_SECONDS": "1",
            "SEARCH_INDEX_ALIAS": f"products-faults-{uuid.uuid4().hex[:8]}",
            "CONSUMER_GROUP": f"search-faults-{uuid.uuid4().hex[:8]}",
            "PRODUCT_SERVICE_URL": products,
        }
        with ExitStack() as stack:
            start_all(
                stack,
                {
                    "product-service": (urls["product-service"][0], product_env),
                    "search-service": (urls["search-service"][0], search_env),
                },
            )
            with httpx.Client(timeout=15) as http:
                marker = f"zq{uuid.uuid4().hex[:6]}"

                def create(n: int) -> str:
                    reply = http.post(
                        f"{products}/api/products",
                        json={
                            "name": f"{marker} lamp {n}",
                            "price": 10 + n,
                            "category": "Lights",
                            "stock_quantity": 2,
                        },
                    )
                    assert reply.status_code == 201, reply.text
                    return str(reply.json()["id"])

                def found() -> set[str]:
                    reply = http.get(f"{search}/api/search", params={"q": marker, "size": 50})
                    if reply.status_code != 200:
                        return set()
                    return {p["id"] for p in reply.json()["hits"]}

                ids = [create(n) for n in range(2)]
                wait_for(lambda: found() >= set(ids), timeout=30, what="first products indexed")

                infra.stop_component("elasticsearch")
                down, down_s = timed(lambda: http.get(f"{search}/api/search", params={"q": marker}))
                assert_outage_reply(down, down_s, "GET /api/search")
                ids += [create(n) for n in range(2, 5)]
                time.sleep(2)  # the consumer meets the outage: it must pause, not park

                infra.start_component("elasticsearch")
                back = time.monotonic()
                wait_for(
                    lambda: (
                        http.get(f"{search}/api/search", params={"q": marker}).status_code == 200
                    ),
                    timeout=30,
                    what="search answering again",
                )
                recovery_s = time.monotonic() - back
                wait_for(
                    lambda: found() >= set(ids),
                    timeout=45,
                    what="products created during the outage indexed",
                )
                indexed = found()
    dead = count_records(local_kafka, f"{topic}.dlq")
    delivered = len(indexed & set(ids))
    record_case(
        "elasticsearch_outage",
        placed=len(ids),
        delivered=delivered,
        duplicates=0,
        lost=len(ids) - delivered,
        recovery_s=recovery_s,
        first_503_s=round(down_s, 3),
        dead_lettered=dead,
    )
    assert delivered == len(ids)
    assert dead == 0
