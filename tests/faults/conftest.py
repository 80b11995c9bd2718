"""Fixtures of the fault suite (part A: broker, consumer crashes, order-service crash,
dependency restarts).

The cases here take servers away on purpose, so they run on a stack of their own: a private
noida-db (Kafka + Elasticsearch) and SMTP sink on free ports under `.local/faults/`, never the
test profile's shared broker that the other suites use. PostgreSQL and Redis are the shared
ones (each case has its own databases, key prefixes, topics and consumer groups).

Services run as real uvicorn processes (devstack's launcher) on a fixed port per case, so a
service killed with SIGKILL comes back on the same port with the same environment, as a
restarted container or pod would (same KAFKA_GROUP_INSTANCE_ID: devstack derives it from the
port).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from chassis.events import CloudEvent, decode_event, encode_event
from devstack import local_stack
from devstack.local_stack import Endpoints
from devstack.paths import find_repo_root
from devstack.pidfile import is_alive
from devstack.profiles import Profile, get_profile
from devstack.progress import Progress
from devstack.services import free_port, get_service, launch_service, stop_service
from devstack.smtp_sink import StoredMail, read_mailbox

FAULTS_PROFILE = "faults"
# Services log warnings only; their logs stay in .local/faults/<service>-<port>/log.
QUIET = {"LOG_LEVEL": "WARNING"}


def distinct_free_ports(count: int) -> list[int]:
    """`count` different free ports: all sockets stay bound until every port is chosen (one
    `free_port()` after another may hand out the same port twice)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def faults_profile() -> Profile:
    """The test profile's PostgreSQL and Redis, free ports for every stand-in."""
    base = get_profile("test")
    kafka, elasticsearch, mongodb, smtp, oidc = distinct_free_ports(5)
    return replace(
        base,
        name=FAULTS_PROFILE,
        kafka_port=kafka,
        elasticsearch_port=elasticsearch,
        mongodb_port=mongodb,
        smtp_port=smtp,
        oidc_port=oidc,
    )


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[Endpoints]:
    """A private broker + Elasticsearch (one noida-db) and SMTP sink, stopped at the end."""
    try:
        with local_stack(
            {"postgres", "redis", "kafka", "elasticsearch", "smtp"},
            faults_profile(),
            root=find_repo_root(),
            progress=Progress(quiet=True),
            timeout=60,
        ) as ep:
            yield ep
    except Exception as exc:  # a server that cannot start fails the case, never skips it
        pytest.fail(f"the fault suite's stack could not start: {exc}", pytrace=False)


def fleet_topics(ep: Endpoints, label: str) -> dict[str, str]:
    """Fresh topics for one case (and their DLQs), as the services' TOPIC_* variables."""
    suffix = f"{label}-{uuid.uuid4().hex[:6]}"
    names = {
        "TOPIC_ORDER_PLACED": f"order-placed-{suffix}",
        "TOPIC_ORDER_CANCELLED": f"order-cancelled-{suffix}",
        "TOPIC_ORDER_STATUS_CHANGED": f"order-status-changed-{suffix}",
        "TOPIC_INVENTORY_LOW": f"inventory-low-{suffix}",
        "TOPIC_AI_NOTIFICATION_READY": f"ai-notification-ready-{suffix}",
        "TOPIC_PRODUCT_UPDATED": f"product-updated-{suffix}",
    }
    partitions = {name: 3 for name in names.values()}
    partitions.update({f"{name}.dlq": 1 for name in names.values()})
    ep.create_topics(partitions)
    return names


class ServiceProcess:
    """One service under uvicorn on a fixed port: kill -9, start again, stop."""

    def __init__(self, name: str, profile: Profile, env: Mapping[str, str]) -> None:
        self.spec = get_service(name)
        self.profile = profile
        self.env = {**QUIET, **env}
        self.port = free_port()
        self.root = find_repo_root()
        self.pid: int | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> ServiceProcess:
        launched = launch_service(
            self.spec,
            self.profile,
            self.root,
            Progress(quiet=True),
            port=self.port,
            env=self.env,
            timeout=timeout,
        )
        self.pid = launched.pid
        return self

    def kill9(self) -> None:
        """SIGKILL the process group, as an OOM kill or a node failure would."""
        assert self.pid is not None, f"{self.spec.name} is not running"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while is_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pid = None

    @property
    def folder(self) -> Path:
        return self.root / ".local" / self.profile.name / f"{self.spec.name}-{self.port}"

    def stop(self) -> None:
        stop_service(self.spec, self.profile, self.root, self.port)
        self.pid = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        log = self.folder / "log"
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture
def services(fault_stack: Endpoints) -> Iterator[Callable[..., ServiceProcess]]:
    """`services(name, env)` starts a service on the fault stack; all are stopped after the case."""
    started: list[ServiceProcess] = []

    def start(name: str, env: Mapping[str, str], *, timeout: float = 90) -> ServiceProcess:
        process = ServiceProcess(name, fault_stack.profile, env)
        started.append(process)
        return process.start(timeout)

    yield start
    for process in reversed(started):
        process.stop()


def postgres_url(ep: Endpoints, prefix: str) -> str:
    return ep.postgres_url(f"{prefix}_{uuid.uuid4().hex[:8]}")


# ---- reading what happened ---------------------------------------------------------------


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[CloudEvent]], bool],
    within: float,
    settle: float = 2.0,
    marks: dict[str, float] | None = None,
) -> list[CloudEvent]:
    """Every event on `topic` from the start, until `until(events)` holds (then `settle`
    seconds more, to catch late duplicates) or `within` seconds passed. `marks["complete"]`
    gets the time.monotonic() at which `until` first held."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    events: list[CloudEvent] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    settle_until: float | None = None
    for _ in range(50):
        try:
            await consumer.start()
            break
        except Exception:
            await asyncio.sleep(0.2)
    try:
        while loop.time() < (settle_until or deadline):
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                events.extend(decode_event(r.value) for r in records)
            if settle_until is None and until(events):
                if marks is not None:
                    marks["complete"] = time.monotonic()
                settle_until = min(deadline, loop.time() + settle)
    finally:
        await consumer.stop()
    return events


async def publish(bootstrap: str, topic: str, events: list[CloudEvent], pace: float = 0.0) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            await (await producer.send(topic, encode_event(event), key=event.subject.encode()))
            if pace:
                await asyncio.sleep(pace)
    finally:
        await producer.stop()


def mails(folder: Path, marker: str) -> list[StoredMail]:
    """Messages in the SMTP sink whose recipient contains `marker` (one case's customers)."""
    return [m for m in read_mailbox(folder) if any(marker in r for r in m.rcpt_to)]


def wait_until(check: Callable[[], Any], within: float, step: float = 0.25) -> Any:
    """Poll `check` until it returns something truthy; returns it, or the last value."""
    deadline = time.monotonic() + within
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(step)
        value = check()
    return value


def health(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def pg_fetch(url: str, query: str, *args: Any, within: float = 20.0) -> list[asyncpg.Record]:
    """Run one query on the database `url` (SQLAlchemy or plain form). PostgreSQL is shared
    with every other suite on the machine: a moment of "too many clients" is waited out."""
    dsn = url.replace("postgresql+asyncpg", "postgresql")
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
            break
        except (asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError, OSError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()
