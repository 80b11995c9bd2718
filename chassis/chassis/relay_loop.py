"""The loop every outbox relay runs, whatever its store: wait for a wake-up or the poll
interval, publish batches until one comes back short, back off with jitter after a failure,
and do housekeeping (backlog gauges, deleting old sent records) on their own schedules.
Subclasses say how one batch is published and how housekeeping is done."""

import asyncio
import contextlib
from abc import ABC, abstractmethod
from typing import Any

import structlog

from chassis.resilience import backoff_delay

log = structlog.get_logger(__name__)


class RelayLoop(ABC):
    def __init__(
        self,
        *,
        batch_size: int,
        poll_interval: float,
        backoff_initial: float,
        backoff_max: float,
        cleanup_interval: float,
        metrics_interval: float,
        stop_timeout: float,
        log_prefix: str,
        log_fields: dict[str, Any],
    ) -> None:
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.cleanup_interval = cleanup_interval
        self.metrics_interval = metrics_interval
        self.stop_timeout = stop_timeout
        self._log_prefix = log_prefix
        self._log_fields = log_fields
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._next_cleanup = 0.0
        self._next_metrics = 0.0
        self.published = 0  # records this relay published, for tests and benchmarks

    # what a store provides

    @abstractmethod
    async def run_once(self) -> int:
        """Publish at most one batch; returns how many were published."""

    @abstractmethod
    async def cleanup(self) -> int:
        """Delete records sent longer ago than the retention period."""

    @abstractmethod
    async def refresh_metrics(self) -> tuple[int, float]:
        """Set the backlog gauges; returns (unsent records, age of the oldest in seconds)."""

    async def _before_wait(self) -> None:  # noqa: B027 (an optional hook, not abstract)
        """Runs at the top of every round (e.g. make sure a LISTEN connection exists)."""

    async def _on_metrics_tick(self) -> None:  # noqa: B027 (an optional hook, not abstract)
        """Runs with each metrics refresh (e.g. check that connection is still healthy)."""

    async def _after_stop(self) -> None:  # noqa: B027 (an optional hook, not abstract)
        """Releases what the relay holds once its loop has ended."""

    # lifecycle

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if not self.running:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"{self._log_prefix}-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stopping = True
        self._wake.set()
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), self.stop_timeout)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._after_stop()

    async def drain(self) -> int:
        """Publish batches until one comes back short; returns the number published."""
        total = 0
        while True:
            published = await self.run_once()
            total += published
            if published < self.batch_size:
                return total

    # the loop

    async def _housekeeping(self) -> None:
        now = asyncio.get_running_loop().time()
        if now >= self._next_metrics:
            self._next_metrics = now + self.metrics_interval
            await self._on_metrics_tick()
            await self.refresh_metrics()
        if now >= self._next_cleanup:
            self._next_cleanup = now + self.cleanup_interval
            await self.cleanup()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            await self._before_wait()
            if failures == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()
            if self._stopping:
                break
            try:
                await self.drain()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = backoff_delay(min(failures, 16), self.backoff_initial, self.backoff_max)
                log.warning(
                    f"{self._log_prefix}.publish_failed",
                    **self._log_fields,
                    error=str(exc),
                    error_type=type(exc).__name__,
                    failures=failures,
                    retry_in=round(delay, 3),
                )
                await self._sleep_unless_stopping(delay)
            try:
                await self._housekeeping()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    f"{self._log_prefix}.housekeeping_failed", **self._log_fields, error=str(exc)
                )

    async def _sleep_unless_stopping(self, delay: float) -> None:
        # A wake-up during the backoff must not cut it short; only stop() does.
        deadline = asyncio.get_running_loop().time() + delay
        while not self._stopping:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.1))
