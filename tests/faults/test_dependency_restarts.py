"""A dependency stopped and started again: the caller answers a fast 503 with a sentence (or its
consumer pauses), recovers by itself, and nothing is lost.

- inventory-service away under order-service: orders are refused with 503 in milliseconds once
  the breaker is open, orders go through again as soon as it is back, and every accepted
  order's `order-placed` reaches the broker;
- the SMTP relay away under notification-service: the consumer pauses (nothing dead-lettered)
  and, once the relay is back, every email is sent exactly once.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import httpx

from chassis.events import CloudEvent, new_event
from devstack.asyncbridge import run_sync
from devstack.local_stack import Endpoints

from .conftest import ServiceProcess, fleet_topics, mails, postgres_url, publish, read_topic
from .recording import record_case

RECOVER_WITHIN_S = 30.0


def order_body(n: int, product_id: str, marker: str) -> dict[str, object]:
    return {
        "customer_name": f"Dep {n}",
        "customer_email": f"{marker}-{n}@example.com",
        "items": [
            {
                "product_id": product_id,
                "product_name": "Sturdy Mug",
                "quantity": 1,
                "unit_price": 12.5,
            }
        ],
    }


def test_inventory_service_stopped_and_restarted_fast_503_then_orders_flow_again(
    fault_stack: Endpoints, services: Callable[..., ServiceProcess]
) -> None:
    ep = fault_stack
    run = uuid.uuid4().hex[:8]
    topics = fleet_topics(ep, "depinv")
    common = {**topics, "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap}
    inventory = services(
        "inventory-service",
        {
            **common,
            "DATABASE_URL": postgres_url(ep, "faults_dep_inventory"),
            "CONSUMER_GROUP": f"inventory-dep-{run}",
        },
    )
    orders = services(
        "order-service",
        {
            **common,
            "DATABASE_URL": postgres_url(ep, "faults_dep_orders"),
            "INVENTORY_SERVICE_URL": inventory.url,
        },
    )
    product_id = f"dep-{run}"
    marker = f"depinv-{run}"
    assert (
        httpx.post(
            f"{inventory.url}/api/inventory",
            timeout=10,
            json={"product_id": product_id, "product_name": "Sturdy Mug", "quantity": 500},
        ).status_code
        == 201
    )
    accepted: list[str] = []
    client = httpx.Client(base_url=orders.url, timeout=30)
    n = 0

    def place() -> httpx.Response:
        nonlocal n
        n += 1
        reply = client.post("/api/orders", json=order_body(n, product_id, marker))
        if reply.status_code == 201:
            accepted.append(reply.json()["id"])
        return reply

    assert place().status_code == 201

    inventory.stop()
    refusals: list[float] = []
    for _ in range(20):
        started = time.perf_counter()
        reply = place()
        elapsed = time.perf_counter() - started
        assert reply.status_code in (503, 504), f"{reply.status_code}: {reply.text}"
        detail = reply.json().get("detail")
        assert isinstance(detail, str)
        assert detail.endswith(".")
        refusals.append(elapsed)
    # Once the breaker is open the refusal costs no call to the dead upstream.
    fast = sorted(refusals[-10:])

    inventory.start()
    back = time.monotonic()
    while place().status_code != 201:
        assert time.monotonic() - back < RECOVER_WITHIN_S, "orders never flowed again"
        time.sleep(0.2)
    recovered_s = time.monotonic() - back
    for _ in range(10):
        assert place().status_code == 201
    client.close()

    wanted = set(accepted)
    events = run_sync(
        read_topic(
            ep.kafka_bootstrap,
            topics["TOPIC_ORDER_PLACED"],
            within=30,
            until=lambda evs: wanted <= {str(e.data.get("order_id")) for e in evs},
        )
    )
    per_order = Counter(str(e.data.get("order_id")) for e in events)
    lost = len(wanted - set(per_order))
    duplicates = sum(c - 1 for c in Counter(e.id for e in events).values())
    record_case(
        "inventory_service_restart",
        placed=len(accepted),
        delivered=len(wanted & set(per_order)),
        duplicates=duplicates,
        lost=lost,
        recovery_s=recovered_s,
        refused=len(refusals),
        refusal_p50_ms=round(statistics.median(fast) * 1000, 1),
        refusal_max_ms=round(max(fast) * 1000, 1),
    )
    assert max(fast) < 0.5, f"refusals with the breaker open took up to {max(fast):.3f}s"
    assert lost == 0
    assert duplicates == 0


def order_placed(i: int, run: str, topic: str) -> CloudEvent:
    order_id = str(uuid.uuid4())
    return new_event(
        topic,
        "faults",
        order_id,
        {
            "order_id": order_id,
            "order_number": f"ORD-{run}-{i:03d}",
            "customer_name": f"Smtp {i}",
            "customer_email": f"smtp-{run}-{i}@example.com",
            "total_amount": Decimal("12.50"),
            "items": [
                {
                    "product_id": f"p-{i}",
                    "product_name": "Mug",
                    "quantity": 1,
                    "unit_price": Decimal("12.50"),
                }
            ],
        },
    )


def test_smtp_relay_stopped_and_restarted_consumer_pauses_then_sends_each_email_once(
    fault_stack: Endpoints, services: Callable[..., ServiceProcess]
) -> None:
    ep = fault_stack
    run = uuid.uuid4().hex[:8]
    topics = fleet_topics(ep, "depsmtp")
    topic = topics["TOPIC_ORDER_PLACED"]
    services(
        "notification-service",
        {
            **topics,
            "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
            "REDIS_URL": ep.redis_url,
            "REDIS_KEY_PREFIX": f"notification-smtp-{run}",
            "CONSUMER_GROUP": f"notif-smtp-{run}",
            "SMTP_TIMEOUT_SECONDS": "3",
            "SMTP_HOST": ep.profile.host,
            "SMTP_PORT": str(ep.profile.smtp_port),
        },
    )
    events = [order_placed(i, run, topic) for i in range(20)]
    folder = ep.stack.mail_folder()

    def sent() -> Counter[str]:
        return Counter(
            str(m.message.get("Message-ID", "")).strip("<>").split("@")[0]
            for m in mails(folder, f"smtp-{run}-")
        )

    run_sync(publish(ep.kafka_bootstrap, topic, events[:1]))
    deadline = time.monotonic() + 60
    while not sent():
        assert time.monotonic() < deadline, "the first email never arrived"
        time.sleep(0.2)

    relay = ep.component("smtp")
    relay.stop()
    run_sync(publish(ep.kafka_bootstrap, topic, events[1:]))
    time.sleep(5)  # the consumer meets the dead relay and must pause, not dead-letter
    assert len(sent()) == 1
    relay.start()
    back = time.monotonic()
    wanted = {e.id for e in events}
    while not wanted <= set(sent()):
        assert time.monotonic() - back < RECOVER_WITHIN_S, (
            f"{len(wanted - set(sent()))} emails missing {RECOVER_WITHIN_S:.0f}s after the "
            "relay came back"
        )
        time.sleep(0.25)
    recovered_s = time.monotonic() - back
    time.sleep(1.0)
    counts = sent()
    dead_lettered = run_sync(
        read_topic(ep.kafka_bootstrap, f"{topic}.dlq", until=lambda evs: False, within=2, settle=0)
    )
    duplicates = sum(c - 1 for eid, c in counts.items() if eid in wanted)
    record_case(
        "smtp_relay_restart",
        placed=len(events),
        delivered=len(wanted & set(counts)),
        duplicates=duplicates,
        lost=len(wanted - set(counts)),
        recovery_s=recovered_s,
        dead_lettered=len(dead_lettered),
    )
    assert not dead_lettered, "events were dead-lettered while the relay was away"
    assert duplicates == 0
