"""Components: started in the order they were added, stopped in reverse, readiness from the
same list; a failed start or setup stops what was already live."""

import asyncio

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from chassis import create_app
from chassis.lifecycle import BackgroundTask, Components, lifespan
from chassis.settings import BaseServiceSettings


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def step(self, name: str, *, fail: bool = False):  # type: ignore[no-untyped-def]
        async def run() -> None:
            self.calls.append(name)
            if fail:
                raise RuntimeError(f"{name} failed")

        return run


async def test_started_in_order_and_stopped_in_reverse() -> None:
    rec = Recorder()
    components = Components()
    components.add("pool", stop=rec.step("pool.stop"))
    components.add("producer", stop=rec.step("producer.stop"))
    components.add("consumer", start=rec.step("consumer.start"), stop=rec.step("consumer.stop"))
    sync_started: list[str] = []
    components.add("task", start=lambda: sync_started.append("task"), stop=rec.step("task.stop"))
    components.add("off", start=rec.step("off.start"), stop=rec.step("off.stop"), enabled=False)
    await components.start()
    assert rec.calls == ["consumer.start"]
    assert sync_started == ["task"]
    await components.stop()
    assert rec.calls[1:] == ["task.stop", "consumer.stop", "producer.stop", "pool.stop"]
    await components.stop()  # a second stop has nothing left to stop
    assert len(rec.calls) == 5


async def test_a_failed_start_stops_what_is_live_and_is_raised() -> None:
    rec = Recorder()
    components = Components()
    components.add("pool", stop=rec.step("pool.stop"))
    components.add("first", start=rec.step("first.start"), stop=rec.step("first.stop"))
    components.add(
        "second", start=rec.step("second.start", fail=True), stop=rec.step("second.stop")
    )
    components.add("third", start=rec.step("third.start"), stop=rec.step("third.stop"))
    with pytest.raises(RuntimeError, match=r"second\.start failed"):
        await components.start()
    await components.stop()
    assert rec.calls == ["first.start", "second.start", "first.stop", "pool.stop"]


async def test_one_failing_stop_does_not_keep_the_others_running() -> None:
    rec = Recorder()
    components = Components()
    components.add("a", stop=rec.step("a.stop"))
    components.add("b", stop=rec.step("b.stop", fail=True))
    components.add("c", stop=rec.step("c.stop"))
    with pytest.raises(RuntimeError, match=r"b\.stop failed"):
        await components.stop()
    assert rec.calls == ["c.stop", "b.stop", "a.stop"]


async def test_readiness_comes_from_the_component_list() -> None:
    async def ok() -> None:
        return None

    components = Components()
    components.add("redis", stop=ok, ready=ok)
    components.add("producer", stop=ok)
    components.add("smtp", ready=ok)
    components.add("consumer", start=ok, ready=ok, enabled=False)
    assert list(components.readiness()) == ["redis", "smtp", "consumer"]


def _app(setup) -> FastAPI:  # type: ignore[no-untyped-def]
    return create_app(BaseServiceSettings(service_name="lifecycle-test"), title="t", setup=setup)


def test_components_are_the_one_way_to_give_a_lifespan() -> None:
    async def setup(app: FastAPI, components: Components) -> None:
        return None

    with pytest.raises(TypeError, match="lifespan"):
        create_app(BaseServiceSettings(), title="t", setup=setup, lifespan=lifespan(setup))  # type: ignore[call-arg]


async def test_a_worker_is_started_and_stopped_through_its_own_methods() -> None:
    class Relay:
        def __init__(self) -> None:
            self.state = "new"

        async def start(self) -> None:
            self.state = "running"

        async def stop(self) -> None:
            self.state = "stopped"

    relay, idle = Relay(), Relay()
    components = Components()
    components.add_worker("relay", relay)
    components.add_worker("idle", idle, enabled=False)
    await components.start()
    assert (relay.state, idle.state) == ("running", "new")
    await components.stop()
    assert (relay.state, idle.state) == ("stopped", "new")


async def test_lifespan_runs_setup_serves_ready_and_stops_in_reverse() -> None:
    rec = Recorder()

    async def down() -> None:
        raise ConnectionError("refused")

    async def setup(app: FastAPI, components: Components) -> None:
        components.add("db", stop=rec.step("db.stop"), ready=rec.step("db.ready"))
        components.add("broker", stop=rec.step("broker.stop"), ready=down)
        components.add("relay", start=rec.step("relay.start"), stop=rec.step("relay.stop"))

    app = _app(setup)
    async with LifespanManager(app):
        assert rec.calls == ["relay.start"]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            reply = await client.get("/ready")
    assert reply.status_code == 503
    assert reply.json()["checks"] == {
        "db": {"status": "UP"},
        "broker": {"status": "DOWN", "error": "ConnectionError: refused"},
    }
    assert rec.calls == ["relay.start", "db.ready", "relay.stop", "broker.stop", "db.stop"]


async def test_a_failing_setup_closes_what_it_opened_and_the_failure_is_seen() -> None:
    rec = Recorder()

    async def setup(app: FastAPI, components: Components) -> None:
        components.add("db", stop=rec.step("db.stop", fail=True))
        raise ValueError("bad index definition")

    with pytest.raises(ValueError, match="bad index definition"):
        async with LifespanManager(_app(setup)):
            pass
    assert rec.calls == ["db.stop"]


async def test_a_background_task_runs_until_it_is_stopped() -> None:
    ticks = 0

    async def run() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = BackgroundTask("ticker", run)
    assert not task.running
    task.start()
    task.start()  # already running: still one task
    await asyncio.sleep(0.05)
    assert task.running
    await task.stop()
    assert not task.running
    seen = ticks
    await asyncio.sleep(0.03)
    assert ticks == seen
    await task.stop()  # stopping twice is harmless
