"""Really starts noida-db (Kafka + Elasticsearch) and nx-27017 (MongoDB) on free ports
under a tmp dir, exercises them over their wire protocols, and stops them."""

import asyncio
import socket
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from devstack import TOPICS, StackError, local_stack
from devstack.pidfile import is_alive
from devstack.profiles import PROFILES
from devstack.progress import Progress
from devstack.provisioning import describe_partition_counts
from devstack.services import free_port

pytestmark = pytest.mark.integration


def _mongo_ping(url: str) -> dict[str, object]:
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        return client.admin.command("ping")
    finally:
        client.close()


def test_stand_ins_start_serve_restart_and_stop(tmp_path: Path) -> None:
    profile = replace(
        PROFILES["test"],
        name="it",
        kafka_port=free_port(),
        elasticsearch_port=free_port(),
        mongodb_port=free_port(),
    )
    with local_stack(
        {"kafka", "elasticsearch", "mongodb"},
        profile,
        root=tmp_path,
        progress=Progress(quiet=True),
        timeout=30,
    ) as ep:
        kafka = ep.component("kafka")
        noida_pid, mongo_pid = kafka.pid, ep.component("mongodb").pid
        assert noida_pid is not None
        assert mongo_pid is not None
        assert ep.component("elasticsearch").pid == noida_pid  # one process, two listeners
        assert (tmp_path / ".local/it/noida-db/pid").read_text().split()[0] == str(noida_pid)

        counts = asyncio.run(describe_partition_counts(ep.kafka_bootstrap, list(TOPICS)))
        assert counts == TOPICS
        assert ep.create_topics({"it-extra": 3}) == {"it-extra": 3}
        assert ep.create_topics({"it-extra": 3}) == {"it-extra": 3}  # idempotent

        info = httpx.get(f"{ep.elasticsearch_url}/", timeout=5)
        assert info.status_code == 200
        assert "version" in info.json()
        assert _mongo_ping(ep.mongodb_url)["ok"] == 1

        # Benchmarks take the broker away and bring it back; data survives a SIGTERM stop.
        assert kafka.stop() == noida_pid
        assert not is_alive(noida_pid)
        assert not kafka.is_running()
        restarted = kafka.start()
        assert restarted != noida_pid
        assert kafka.is_running()
        counts = asyncio.run(
            describe_partition_counts(ep.kafka_bootstrap, ["order-placed", "it-extra"])
        )
        assert counts == {"order-placed": 6, "it-extra": 3}

    assert not is_alive(restarted)
    assert not is_alive(mongo_pid)
    assert not (tmp_path / ".local/it/noida-db/pid").exists()
    assert not (tmp_path / ".local/it/mongodb/pid").exists()


def test_failed_start_names_the_component_and_stops_what_started(tmp_path: Path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    profile = replace(
        PROFILES["test"],
        name="it",
        kafka_port=free_port(),
        elasticsearch_port=free_port(),
        mongodb_port=blocker.getsockname()[1],
    )
    try:
        with (
            pytest.raises(StackError) as failure,
            local_stack(
                {"kafka", "mongodb"},
                profile,
                root=tmp_path,
                progress=Progress(quiet=True),
                timeout=10,
            ),
        ):
            pytest.fail("the stack must not start with its MongoDB port taken")
    finally:
        blocker.close()
    assert failure.value.component == "mongodb"
    assert "is taken" in failure.value.reason
    assert not (tmp_path / ".local/it/noida-db/pid").exists()
