"""Start-up and shutdown as a list of components, instead of a hand-written lifespan per service.

A service's `setup(app, components)` creates its clients and registers each one, in order, with
what it needs: `start` (a consumer, a relay, a background task), `stop` (close a pool, a
client, a producer) and `ready` (the `/ready` check). `lifespan(setup)` runs setup, starts the
components in the order they were added, and on shutdown, or when setup or a start fails,
stops every component that is live in the reverse order. `readiness(app)` gives `create_app`
the checks of the same list, so what `/ready` checks is what the service runs.

    def build_app(settings):
        async def setup(app, components):
            redis = Redis.from_url(...)
            components.add("redis", stop=redis.aclose, ready=redis.ping)
            consumer = EventConsumer(...)
            components.add_worker("consumer", consumer, enabled=settings.run_event_consumer)

        app = create_app(settings, title=..., setup=setup)

(`create_app(setup=)` is `lifespan=lifespan(setup)` with `readiness_checks` reading the
components.)
"""

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from fastapi import FastAPI

from chassis.app import Lifespan, ReadinessCheck

log = structlog.get_logger(__name__)

Step = Callable[[], Awaitable[Any] | None]
Setup = Callable[[FastAPI, "Components"], Awaitable[None]]


@dataclass(frozen=True)
class Component:
    name: str
    start: Step | None = None
    stop: Step | None = None
    ready: ReadinessCheck | None = None


class Worker(Protocol):
    """A consumer, a relay, a background task: started, and stopped again."""

    def start(self) -> Awaitable[Any] | None: ...

    def stop(self) -> Awaitable[Any] | None: ...


async def _run(step: Step) -> None:
    result = step()
    if inspect.isawaitable(result):
        await result


class Components:
    """The service's components in start order. One without `start` (a client the setup already
    opened) is live from the moment it is added; one with `start` once it has started."""

    def __init__(self) -> None:
        self._all: list[Component] = []
        self._live: list[Component] = []

    def add(
        self,
        name: str,
        *,
        start: Step | None = None,
        stop: Step | None = None,
        ready: ReadinessCheck | None = None,
        enabled: bool = True,
    ) -> None:
        """A disabled component (e.g. a consumer switched off by a setting) is neither started
        nor stopped; its readiness check, if any, still counts."""
        component = Component(name, start if enabled else None, stop if enabled else None, ready)
        self._all.append(component)
        if enabled and start is None:
            self._live.append(component)

    def add_worker(self, name: str, worker: Worker, *, enabled: bool = True) -> None:
        self.add(name, start=worker.start, stop=worker.stop, enabled=enabled)

    async def start(self) -> None:
        for component in self._all:
            if component.start is not None and component not in self._live:
                await _run(component.start)
                self._live.append(component)
                log.debug("component.started", component=component.name)

    async def stop(self) -> None:
        """Every live component, in reverse; one failing to stop does not keep the others
        running. The first failure is raised once all have been asked."""
        failure: BaseException | None = None
        while self._live:
            component = self._live.pop()
            if component.stop is None:
                continue
            try:
                await _run(component.stop)
            except Exception as exc:
                log.warning(
                    "component.stop_failed",
                    component=component.name,
                    error=f"{type(exc).__name__}: {exc}"[:300],
                )
                failure = failure or exc
        if failure is not None:
            raise failure

    def readiness(self) -> Mapping[str, ReadinessCheck]:
        return {c.name: c.ready for c in self._all if c.ready is not None}


class BackgroundTask:
    """One asyncio task run for a component's lifetime (a loader, an indexer): `start()` creates
    it, `stop()` cancels it and waits until it has ended. A worker for `add_worker`."""

    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def lifespan(setup: Setup) -> Lifespan:
    """The app's lifespan: setup, start in order, serve, stop in reverse."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        components = Components()
        app.state.components = components
        try:
            await setup(app, components)
            await components.start()
            yield
        except BaseException:
            # The failure that stopped the service is the one to see; stop failures are logged.
            with contextlib.suppress(Exception):
                await components.stop()
            raise
        await components.stop()

    return run


def readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    """The `/ready` checks of the components the lifespan registered (none before it ran)."""
    components: Components | None = getattr(app.state, "components", None)
    return components.readiness() if components is not None else {}
