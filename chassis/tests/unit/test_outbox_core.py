"""The outbox parts both stores share: they import no PostgreSQL driver (so a MongoDB
service's image needs no SQLAlchemy), both relays run the one publish step, and that step
sends in order and counts what it published and what failed."""

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from chassis import mongo_outbox, outbox
from chassis.outbox_core import (
    OUTBOX_PUBLISH_FAILURES,
    OUTBOX_PUBLISHED,
    OutboxPublisher,
    OutboxRecord,
)

POSTGRES_DRIVERS = ("sqlalchemy", "asyncpg", "alembic")


# A fresh interpreter in which the PostgreSQL drivers cannot be imported, as in an image built
# without chassis[postgres] (chassis.dependencies maps the errors of whichever drivers exist).
WITHOUT_POSTGRES = f"""
import importlib.abc, sys
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {POSTGRES_DRIVERS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
"""


def import_without_postgres(module: str) -> subprocess.CompletedProcess[str]:
    probe = f"{WITHOUT_POSTGRES}\nimport {module}\nprint(sorted(sys.modules))"
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )


@pytest.mark.parametrize("module", ["chassis.mongo_outbox", "chassis.outbox_core"])
def test_the_mongo_outbox_and_the_shared_parts_need_no_postgres_driver(module: str) -> None:
    result = import_without_postgres(module)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"'{module}'" in result.stdout
    assert "'chassis.outbox'" not in result.stdout  # the PostgreSQL outbox stays out


def test_the_probe_does_block_the_postgres_drivers() -> None:
    result = import_without_postgres("chassis.outbox")
    assert result.returncode != 0
    assert "No module named" in result.stderr


def test_both_relays_run_the_one_publish_step() -> None:
    for relay in (outbox.OutboxRelay, mongo_outbox.MongoOutboxRelay):
        assert issubclass(relay, OutboxPublisher)
        assert relay.run_once is OutboxPublisher.run_once
    # The names the PostgreSQL outbox always offered are still there.
    assert outbox.OUTBOX_PUBLISHED is OUTBOX_PUBLISHED
    assert outbox.record_fields is mongo_outbox.record_fields


class ListStore(OutboxPublisher):
    """A store adapter over a list, recording what the publish step asked of it."""

    def __init__(self, records: list[OutboxRecord], producer: Any) -> None:
        super().__init__(
            label="list-outbox",
            producer=producer,
            publish_timeout=1.0,
            failure_not_recorded="list_outbox.failure_not_recorded",
            batch_size=10,
            poll_interval=1.0,
            backoff_initial=0.01,
            backoff_max=0.02,
            cleanup_interval=60.0,
            metrics_interval=60.0,
            stop_timeout=1.0,
            log_prefix="list_outbox",
            log_fields={"table": "list-outbox"},
        )
        self.records = records
        self.calls: list[tuple[str, Any]] = []

    @asynccontextmanager
    async def _claim_batch(self) -> AsyncIterator[tuple[Any, Sequence[OutboxRecord]]]:
        self.calls.append(("claim", None))
        yield "claim-1", self.records
        self.calls.append(("claim-ended", None))

    async def _mark_sent(self, claim: Any, ids: list[Any]) -> None:
        self.calls.append(("sent", (claim, ids)))

    async def _record_failure(self, claim: Any, ids: list[Any], error: BaseException) -> None:
        self.calls.append(("failed", (claim, ids, str(error))))

    async def _delete_sent(self) -> int:
        return 0

    async def _unsent_stats(self) -> tuple[int, float]:
        return len(self.records), 0.0


class Producer:
    """Acks every record except those whose key is in ``fail_keys``; or refuses the send of
    ``refuse_key`` outright (as a producer that lost its connection does)."""

    def __init__(self, fail_keys: frozenset[bytes] = frozenset(), refuse_key: bytes = b"") -> None:
        self.sent: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = []
        self.fail_keys = fail_keys
        self.refuse_key = refuse_key

    async def send_raw(
        self, topic: str, value: bytes, key: bytes | None, headers: Any = ()
    ) -> asyncio.Future[Any]:
        if key == self.refuse_key:
            raise ConnectionError("not connected")
        self.sent.append((topic, value, key, list(headers)))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if key in self.fail_keys:
            future.set_exception(OSError("broker said no"))
        else:
            future.set_result("ack")
        return future


def _records(count: int) -> list[OutboxRecord]:
    return [
        OutboxRecord(f"id{i}", "t", f"k{i}", f'{{"n":{i}}}', {"traceparent": "tp"})
        for i in range(count)
    ]


async def test_the_publish_step_sends_in_order_marks_the_acked_and_records_the_failed() -> None:
    producer = Producer(fail_keys=frozenset({b"k1"}))
    store = ListStore(_records(3), producer)
    published = OUTBOX_PUBLISHED.labels("list-outbox")._value.get()
    failures = OUTBOX_PUBLISH_FAILURES.labels("list-outbox")._value.get()
    with pytest.raises(OSError, match="broker said no"):
        await store.run_once()
    assert [(key, value) for _, value, key, _ in producer.sent] == [
        (b"k0", b'{"n":0}'),
        (b"k1", b'{"n":1}'),
        (b"k2", b'{"n":2}'),
    ]
    assert producer.sent[0][3] == [("traceparent", b"tp")]
    # Marked inside the claim, the failure recorded after it.
    assert store.calls == [
        ("claim", None),
        ("sent", ("claim-1", ["id0", "id2"])),
        ("claim-ended", None),
        ("failed", ("claim-1", ["id1"], "broker said no")),
    ]
    assert store.published == 2
    assert OUTBOX_PUBLISHED.labels("list-outbox")._value.get() == published + 2
    assert OUTBOX_PUBLISH_FAILURES.labels("list-outbox")._value.get() == failures + 1


async def test_after_a_refused_send_the_rest_of_the_batch_waits_for_the_retry() -> None:
    producer = Producer(refuse_key=b"k1")
    store = ListStore(_records(4), producer)
    with pytest.raises(ConnectionError):
        await store.run_once()
    assert [key for _, _, key, _ in producer.sent] == [b"k0"]
    assert ("sent", ("claim-1", ["id0"])) in store.calls
    assert store.calls[-1] == ("failed", ("claim-1", ["id1", "id2", "id3"], "not connected"))


async def test_an_empty_claim_publishes_nothing() -> None:
    store = ListStore([], Producer())
    assert await store.run_once() == 0
    assert store.calls == [("claim", None), ("claim-ended", None)]
