"""Each consumer service killed with SIGKILL mid-stream and started again on the same port (as a
restarted container would be): it must resume within 30 s, lose nothing, and send no
confirmation email twice.

Before the fix the restarted consumer never got its partitions back on the local broker (the
dead member was never expired; "(Re-)joining group" every few seconds, nothing consumed), and a
notification-service replica stalled on its own dead run's delivery claims for the whole lease.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from redis import Redis

from chassis.events import CloudEvent, new_event
from devstack.asyncbridge import run_sync
from devstack.local_stack import Endpoints

from .conftest import ServiceProcess, fleet_topics, mails, pg_fetch, postgres_url, publish
from .recording import record_case

EVENTS = 60
PACE_S = 0.08  # ~5 s of events
KILL_AFTER_S = 1.5
RESUME_WITHIN_S = 30.0


@dataclass
class Progress:
    done: set[str]
    duplicates: int = 0


@dataclass
class Case:
    service: str
    topic_variable: str
    env: Callable[[Endpoints, str], dict[str, str]]
    event: Callable[[int, str, str], CloudEvent]
    progress: Callable[[Endpoints, dict[str, str], list[CloudEvent], str], Progress]


def order_placed(i: int, run: str, topic: str) -> CloudEvent:
    order_id = str(uuid.uuid4())
    return new_event(
        topic,
        "faults",
        order_id,
        {
            "order_id": order_id,
            "order_number": f"ORD-{run}-{i:03d}",
            "customer_name": f"Crash {i}",
            "customer_email": f"crash-{run}-{i}@example.com",
            "total_amount": Decimal("25.00"),
            "items": [
                {
                    "product_id": f"p-{run}-{i}-a",
                    "product_name": "Mug",
                    "quantity": 1,
                    "unit_price": Decimal("12.50"),
                },
                {
                    "product_id": f"p-{run}-{i}-b",
                    "product_name": "Saucer",
                    "quantity": 1,
                    "unit_price": Decimal("12.50"),
                },
            ],
        },
    )


def product_updated(i: int, run: str, topic: str) -> CloudEvent:
    product_id = uuid.uuid4().hex[:24]
    return new_event(
        topic,
        "faults",
        product_id,
        {
            "op": "upsert",
            "product_id": product_id,
            "version": 1,
            "product": {
                "id": product_id,
                "name": f"Crash lamp {run} {i}",
                "price": "10.00",
                "category": "lighting",
                "version": 1,
            },
        },
    )


# ---- what each service's work leaves behind ----------------------------------------------


def notification_progress(
    ep: Endpoints, env: dict[str, str], events: list[CloudEvent], run: str
) -> Progress:
    sent = Counter(
        str(m.message.get("Message-ID", "")).strip("<>").split("@")[0]
        for m in mails(ep.stack.mail_folder(), f"crash-{run}-")
    )
    wanted = {e.id for e in events}
    return Progress(
        done=wanted & set(sent), duplicates=sum(n - 1 for eid, n in sent.items() if eid in wanted)
    )


def inventory_progress(
    ep: Endpoints, env: dict[str, str], events: list[CloudEvent], run: str
) -> Progress:
    async def marks() -> set[str]:
        try:
            rows = await pg_fetch(
                env["DATABASE_URL"],
                "SELECT event_id FROM processed_events WHERE consumer = $1",
                env["CONSUMER_GROUP"],
            )
        except asyncpg.UndefinedTableError:
            return set()
        return {r["event_id"] for r in rows}

    return Progress(done={e.id for e in events} & run_sync(marks()))


def search_progress(
    ep: Endpoints, env: dict[str, str], events: list[CloudEvent], run: str
) -> Progress:
    alias = env["SEARCH_INDEX_ALIAS"]
    found = set()
    ids = [e.data["product_id"] for e in events]
    reply = httpx.post(f"{ep.elasticsearch_url}/{alias}/_mget", json={"ids": ids}, timeout=10)
    if reply.status_code == 200:
        found = {d["_id"] for d in reply.json().get("docs", []) if d.get("found")}
    by_product = {e.data["product_id"]: e.id for e in events}
    return Progress(done={by_product[p] for p in found if p in by_product})


def ai_progress(ep: Endpoints, env: dict[str, str], events: list[CloudEvent], run: str) -> Progress:
    """Counted once per event: each order holds its own pair of products, so its pair's score
    is 1 when counted, 2 if a redelivery counted it again."""
    prefix = env["REDIS_KEY_PREFIX"]
    redis = Redis.from_url(ep.redis_url, decode_responses=True, socket_timeout=5)
    try:
        done, duplicates = set(), 0
        for e in events:
            a, b = (item["product_id"] for item in e.data["items"])
            score = redis.zscore(f"{prefix}:together:{a}", b)
            if score:
                done.add(e.id)
                duplicates += int(score) - 1
        return Progress(done=done, duplicates=duplicates)
    finally:
        redis.close()


def common(ep: Endpoints, topics: dict[str, str]) -> dict[str, str]:
    return {**topics, "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap}


CASES = {
    "notification-service": Case(
        "notification-service",
        "TOPIC_ORDER_PLACED",
        lambda ep, run: {
            "REDIS_URL": ep.redis_url,
            "REDIS_KEY_PREFIX": f"notification-crash-{run}",
            "CONSUMER_GROUP": f"notification-crash-{run}",
        },
        order_placed,
        notification_progress,
    ),
    "inventory-service": Case(
        "inventory-service",
        "TOPIC_ORDER_PLACED",
        lambda ep, run: {
            "DATABASE_URL": postgres_url(ep, "faults_crash_inventory"),
            "CONSUMER_GROUP": f"inventory-crash-{run}",
        },
        order_placed,
        inventory_progress,
    ),
    "search-service": Case(
        "search-service",
        "TOPIC_PRODUCT_UPDATED",
        lambda ep, run: {
            "SEARCH_INDEX_ALIAS": f"products-crash-{run}",
            "CONSUMER_GROUP": f"search-crash-{run}",
            # Not called while consuming events; nothing listens there.
            "PRODUCT_SERVICE_URL": "http://127.0.0.1:9",
        },
        product_updated,
        search_progress,
    ),
    "ai-service": Case(
        "ai-service",
        "TOPIC_ORDER_PLACED",
        lambda ep, run: {
            "REDIS_URL": ep.redis_url,
            "REDIS_KEY_PREFIX": f"ai-crash-{run}",
            "CONSUMER_GROUP": f"ai-crash-{run}",
            "PRODUCT_SERVICE_URL": "http://127.0.0.1:9",
        },
        order_placed,
        ai_progress,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_consumer_killed_with_sigkill_mid_stream_resumes_within_30s_and_loses_nothing(
    name: str, fault_stack: Endpoints, services: Callable[..., ServiceProcess]
) -> None:
    case = CASES[name]
    ep = fault_stack
    run = uuid.uuid4().hex[:8]
    topics = fleet_topics(ep, "crash")
    env = {**common(ep, topics), **case.env(ep, run)}
    consumer = services(case.service, env, timeout=120)
    topic = topics[case.topic_variable]
    events = [case.event(i, run, topic) for i in range(EVENTS)]

    def progress() -> Progress:
        return case.progress(ep, env, events, run)

    # Let it consume a first event before the stream starts, so it owns its partitions.
    run_sync(publish(ep.kafka_bootstrap, topic, events[:1]))
    deadline = time.monotonic() + 60
    while not progress().done:
        assert time.monotonic() < deadline, f"{name} never consumed:\n{consumer.log_tail()}"
        time.sleep(0.2)

    stream = threading.Thread(
        target=lambda: run_sync(publish(ep.kafka_bootstrap, topic, events[1:], PACE_S)), daemon=True
    )
    stream.start()
    time.sleep(KILL_AFTER_S)
    before_kill = len(progress().done)
    consumer.kill9()
    killed_at = time.monotonic()
    consumer.start(timeout=120)
    restarted_at = time.monotonic()
    stream.join(timeout=60)

    state = progress()
    while len(state.done) < EVENTS and time.monotonic() - restarted_at < RESUME_WITHIN_S:
        time.sleep(0.25)
        state = progress()
    finished_at = time.monotonic()
    time.sleep(1.0)  # a late duplicate would show up now
    state = progress()
    lost = EVENTS - len(state.done)
    extra: dict[str, Any] = {
        "handled_before_kill": before_kill,
        "restart_s": round(restarted_at - killed_at, 2),
    }
    record_case(
        f"consumer_kill9_{name.replace('-', '_')}",
        placed=EVENTS,
        delivered=len(state.done),
        duplicates=state.duplicates,
        lost=lost,
        recovery_s=(finished_at - restarted_at) if not lost else None,
        **extra,
    )
    assert lost == 0, (
        f"{name}: {lost} of {EVENTS} events not handled {RESUME_WITHIN_S:.0f} s "
        f"after the restart; log:\n{consumer.log_tail()}"
    )
    assert state.duplicates == 0, f"{name}: {state.duplicates} handled twice"
