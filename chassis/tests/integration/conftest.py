"""Real servers for the chassis integration tests, from the devstack pytest plugin
(``local_postgres``, ``local_kafka``), plus a private broker a test may stop and restart."""

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

pytestmark = pytest.mark.integration


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def kafka_bootstrap(local_kafka: str) -> str:
    return local_kafka


@pytest.fixture(scope="session")
def create_database(local_postgres) -> Callable[[str], Awaitable[str]]:
    """``await create_database(prefix)`` -> postgresql+asyncpg URL of a fresh database."""

    async def create(prefix: str) -> str:
        # devstack's helper is synchronous; keep it off the event loop.
        return await asyncio.to_thread(local_postgres.create_database, prefix)

    return create


@pytest.fixture
async def engine(create_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[AsyncEngine]:
    url = await create_database("chassis_test")
    eng = create_async_engine(url, pool_size=10)
    yield eng
    await eng.dispose()


@pytest.fixture
def create_topics(kafka_bootstrap: str) -> Callable[..., Awaitable[list[str]]]:
    """``await create_topics("name", ...)`` makes uniquely named topics (plus their .dlq)."""

    async def create(*bases: str, bootstrap: str | None = None) -> list[str]:
        names = [f"{base}-{uuid.uuid4().hex[:8]}" for base in bases]
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap or kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(n, num_partitions=1, replication_factor=1) for n in names]
                + [NewTopic(n + ".dlq", num_partitions=1, replication_factor=1) for n in names]
            )
        finally:
            await admin.close()
        return names

    return create


async def read_records(bootstrap: str, topic: str, count: int, within: float = 20.0) -> list:
    """Up to ``count`` records of ``topic`` from the beginning, within ``within`` seconds."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list = []
    try:
        deadline = asyncio.get_running_loop().time() + within
        while len(records) < count and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for items in batch.values():
                records.extend(items)
    finally:
        await consumer.stop()
    return records


async def committed_offset(bootstrap: str, group: str, topic: str) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    for tp, meta in offsets.items():
        if tp.topic == topic and tp.partition == 0:
            return meta.offset
    return None


class PrivateBroker:
    """A noida-db Kafka listener of this test alone, so it can be stopped and restarted."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = Path(sys.executable).with_name("noida-db")
        if not binary.exists():
            binary = Path(shutil.which("noida-db") or "noida-db")
        self.process = await asyncio.create_subprocess_exec(
            str(binary),
            "start",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--only",
            "kafka",
            "--kafka-port",
            str(self.port),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            # The noida-db script runs the server as a child: signal the whole group.
            start_new_session=True,
        )
        for _ in range(100):
            if _port_open("127.0.0.1", self.port):
                return
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        pytest.fail(f"private noida-db broker did not open 127.0.0.1:{self.port}")

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)  # SIGTERM keeps the data; SIGKILL may not
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        for _ in range(100):  # the server child may outlive the wrapper by a moment
            if not _port_open("127.0.0.1", self.port):
                return
            await asyncio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
async def private_broker(tmp_path: Path) -> AsyncIterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path / "noida")
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture(name="read_records")
def read_records_fixture() -> Callable[..., Awaitable[list]]:
    return read_records


@pytest.fixture(name="committed_offset")
def committed_offset_fixture() -> Callable[..., Awaitable[int | None]]:
    return committed_offset
