"""EventProducer retires an instance that can no longer publish and starts a fresh one."""

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, OutOfOrderSequenceNumber

from chassis.kafka import REPLACE_AFTER_FAILURES, EventProducer


class ScriptedProducer:
    """Each instance fails every send with the error its factory gave it (None: acks)."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error
        self.stopped = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic: str, **_: Any) -> "asyncio.Future[Any]":
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.error is None:
            future.set_result(("ok", topic))
        else:
            future.set_exception(self.error)
        return future


def factory(errors: list[BaseException | None], made: list[ScriptedProducer]):
    def make(**_: Any) -> ScriptedProducer:
        producer = ScriptedProducer(errors.pop(0) if errors else None)
        made.append(producer)
        return producer

    return make


async def test_a_fatal_sequence_error_retires_the_instance_at_once() -> None:
    made: list[ScriptedProducer] = []
    producer = EventProducer(
        "x:1", producer_factory=factory([OutOfOrderSequenceNumber(), None], made)
    )
    with pytest.raises(OutOfOrderSequenceNumber):
        await producer.publish_raw("t", b"v", b"k")
    assert await producer.publish_raw("t", b"v", b"k") == ("ok", "t")
    assert producer.replaced == 1
    assert made[0].stopped
    assert len(made) == 2


async def test_transient_errors_retire_the_instance_only_after_several_in_a_row() -> None:
    made: list[ScriptedProducer] = []
    producer = EventProducer("x:1", producer_factory=factory([KafkaTimeoutError()], made))
    for _ in range(REPLACE_AFTER_FAILURES):
        with pytest.raises(KafkaTimeoutError):
            await producer.publish_raw("t", b"v", b"k")
        assert len(made) == 1  # still the first instance while failures accumulate
    assert await producer.publish_raw("t", b"v", b"k") == ("ok", "t")
    assert producer.replaced == 1
    assert len(made) == 2


async def test_an_ack_resets_the_failure_count() -> None:
    made: list[ScriptedProducer] = []
    producer = EventProducer("x:1", producer_factory=factory([None], made))
    await producer.publish_raw("t", b"v", b"k")
    producer._note_failure(KafkaTimeoutError())
    await producer.publish_raw("t", b"v", b"k")
    assert producer._failures_in_a_row == 0
    assert producer.replaced == 0
