"""Background task that gives back the stock of reservations nobody confirmed in time."""

import asyncio
import contextlib

import structlog

from inventory_service.service import SWEEP_BATCH, InventoryService

log = structlog.get_logger(__name__)


class ReservationSweeper:
    def __init__(self, service: InventoryService, interval_seconds: float) -> None:
        self.service = service
        self.interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reservation-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                # A full batch means more are due: sweep again at once.
                while await self.service.expire_due_reservations() == SWEEP_BATCH:
                    pass
            except Exception as exc:  # the database may be briefly away; try next round
                log.warning("reservation.sweep_failed", error=repr(exc))
            await asyncio.sleep(self.interval)
