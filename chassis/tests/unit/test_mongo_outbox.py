"""MongoOutboxRelay without servers: publish order, partial failures, wake-up, settings."""

import asyncio
from typing import Any

import pytest

from chassis.events import new_event
from chassis.mongo_outbox import MongoOutboxRelay, enqueue


class FakeCollection:
    name = "outbox"

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []
        self.updates: list[tuple[dict[str, Any], dict[str, Any]]] = []

    async def insert_one(self, doc: dict[str, Any], session: Any = None) -> None:
        self.docs.append(doc)

    async def update_many(self, query: dict[str, Any], update: dict[str, Any]) -> None:
        self.updates.append((query, update))


class FakeProducer:
    """Acks every record except those whose key is in ``fail_keys``."""

    def __init__(self, fail_keys: set[bytes] = frozenset()) -> None:  # type: ignore[assignment]
        self.sent: list[tuple[str, bytes, bytes | None]] = []
        self.fail_keys = fail_keys

    async def send_raw(self, topic: str, value: bytes, key: bytes | None, headers: Any = ()):
        self.sent.append((topic, value, key))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if key in self.fail_keys:
            future.set_exception(OSError("broker said no"))
        else:
            future.set_result("ack")
        return future


async def _docs(count: int) -> list[dict[str, Any]]:
    collection = FakeCollection()
    for i in range(count):
        await enqueue(None, collection, "t", new_event("t", "s", f"k{i}", {"n": i}))  # type: ignore[arg-type]
    return collection.docs


async def test_enqueue_writes_the_encoded_event_in_the_callers_session() -> None:
    [doc] = await _docs(1)
    assert doc["topic"] == "t"
    assert doc["key"] == "k0"
    assert doc["sent_at"] is None
    assert doc["claimed_until"] == 0
    assert '"subject":"k0"' in doc["payload"]


async def test_created_at_is_strictly_increasing_within_a_process() -> None:
    docs = await _docs(50)
    stamps = [d["created_at"] for d in docs]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 50


async def test_run_once_publishes_in_order_and_marks_only_acked_documents(monkeypatch) -> None:
    docs = await _docs(3)
    collection = FakeCollection()
    producer = FakeProducer(fail_keys={b"k1"})
    relay = MongoOutboxRelay(collection, producer)  # type: ignore[arg-type]

    async def claim() -> tuple[str, list[dict[str, Any]]]:
        return "me:1", docs

    monkeypatch.setattr(relay, "_claim", claim)
    with pytest.raises(OSError, match="broker said no"):
        await relay.run_once()
    assert [key for _, _, key in producer.sent] == [b"k0", b"k1", b"k2"]
    (marked_query, marked), (released_query, released) = collection.updates
    assert marked_query == {"_id": {"$in": [docs[0]["_id"], docs[2]["_id"]]}, "claimed_by": "me:1"}
    assert marked["$set"]["sent_at"] > 0
    assert released_query == {"_id": {"$in": [docs[1]["_id"]]}, "claimed_by": "me:1"}
    assert released["$inc"] == {"attempts": 1}
    assert released["$set"]["claimed_until"] == 0
    assert "broker said no" in released["$set"]["last_error"]
    assert relay.published == 2


async def test_notify_wakes_the_relay_long_before_its_poll_interval(monkeypatch) -> None:
    relay = MongoOutboxRelay(FakeCollection(), FakeProducer(), poll_interval=60)  # type: ignore[arg-type]
    woke = asyncio.Event()

    async def drain() -> int:
        woke.set()
        return 0

    async def housekeeping() -> None:
        return None

    monkeypatch.setattr(relay, "drain", drain)
    monkeypatch.setattr(relay, "_housekeeping", housekeeping)
    await relay.start()
    try:
        await asyncio.sleep(0.05)
        assert not woke.is_set()
        relay.notify()
        await asyncio.wait_for(woke.wait(), 1)
    finally:
        await relay.stop()


async def test_relay_keeps_running_and_backs_off_when_publishing_fails(monkeypatch) -> None:
    relay = MongoOutboxRelay(
        FakeCollection(),
        FakeProducer(),
        poll_interval=0.01,  # type: ignore[arg-type]
        backoff_initial=0.01,
        backoff_max=0.02,
    )
    calls = 0

    async def drain() -> int:
        nonlocal calls
        calls += 1
        raise ConnectionError("broker down")

    async def housekeeping() -> None:
        return None

    monkeypatch.setattr(relay, "drain", drain)
    monkeypatch.setattr(relay, "_housekeeping", housekeeping)
    await relay.start()
    await asyncio.sleep(0.3)
    assert relay.running
    await relay.stop()
    assert calls >= 3


def test_lease_must_outlast_a_publish() -> None:
    with pytest.raises(ValueError, match="lease"):
        MongoOutboxRelay(FakeCollection(), FakeProducer(), lease=5, publish_timeout=10)  # type: ignore[arg-type]
