"""Private servers for the fault cases that stop a datastore.

PostgreSQL and Redis on 127.0.0.1:5432/6379 are shared with every other suite (and, on a
developer machine, with other checkouts): a fault case must never stop them. `private_infra`
starts its own copies through the devstack (`initdb` + `postgres` as the `postgres` account
when run as root, `redis-server`, `nx-27017`, `noida-db`) on free ports, under a state folder of
its own, so they can be stopped and started at will, and stops them (by PID) at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from devstack import local_stack
from devstack.asyncbridge import run_sync
from devstack.local_stack import Endpoints
from devstack.profiles import PROFILES
from devstack.progress import Progress
from devstack.provisioning import create_topics
from devstack.services import free_port

T = TypeVar("T")

FLEET_TOPICS = (
    "order-placed",
    "order-cancelled",
    "order-status-changed",
    "inventory-low",
    "ai-notification-ready",
    "product-updated",
)


@contextmanager
def private_infra(components: set[str]) -> Iterator[Endpoints]:
    """`components` (postgres, redis, mongodb, elasticsearch) on free ports of their own."""
    name = f"faults-{uuid.uuid4().hex[:8]}"
    profile = replace(
        PROFILES["test"],
        name=name,
        postgres_port=free_port(),
        redis_port=free_port(),
        kafka_port=free_port(),
        elasticsearch_port=free_port(),
        mongodb_port=free_port(),
        redis_db=0,
    )
    # Under /tmp with a traversable path: PostgreSQL runs as `postgres` when we are root.
    root = Path(tempfile.mkdtemp(prefix="faults-infra-"))
    os.chmod(root, 0o755)
    try:
        with local_stack(
            components,
            profile,
            root=root,
            progress=Progress(quiet=True),
            timeout=60,
            create_fleet_topics=False,
        ) as endpoints:
            yield endpoints
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fleet_topics(kafka: str, label: str) -> dict[str, str]:
    """A private set of the fleet's topics (3 partitions, DLQs of 1) as service settings."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        f"TOPIC_{topic.upper().replace('-', '_')}": f"{topic}-{label}-{suffix}"
        for topic in FLEET_TOPICS
    }
    partitions = {topic: 3 for topic in names.values()}
    partitions.update({f"{topic}.dlq": 1 for topic in names.values()})
    run_sync(create_topics(kafka, partitions))
    return names


def count_records(kafka: str, topic: str) -> int:
    """Records on `topic` (end minus beginning offsets, all partitions)."""
    from aiokafka import AIOKafkaConsumer

    async def count() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            from aiokafka import TopicPartition

            tps = [TopicPartition(topic, p) for p in partitions]
            if not tps:
                return 0
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
            return sum(ends[tp] - starts[tp] for tp in tps)
        finally:
            await consumer.stop()

    return run_sync(count())


def wait_for(
    check: Callable[[], T | None], timeout: float, interval: float = 0.2, what: str = "condition"
) -> T:
    """Polls `check` until it returns something truthy; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # a server coming back may refuse a few times
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


def reserve_urls(*names: str) -> dict[str, tuple[int, str]]:
    """A free port and its base URL per service, known before any of them starts (so services
    that call each other can be started at the same time)."""
    ports = {name: free_port() for name in names}
    return {name: (port, f"http://127.0.0.1:{port}") for name, port in ports.items()}


def start_all(stack: ExitStack, services: dict[str, tuple[int, dict[str, str]]]) -> None:
    """Starts every service (name -> (port, env)) at once; each is stopped when `stack`
    closes. Sequential starts of a whole fleet cost minutes on a loaded 2-core machine."""
    from concurrent.futures import ThreadPoolExecutor

    from devstack import start_service

    def start(name: str) -> None:
        port, env = services[name]
        stack.enter_context(start_service(name, port=port, env=env))

    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        for future in [pool.submit(start, name) for name in services]:
            future.result()
