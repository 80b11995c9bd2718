"""Background task that gives back the stock of reservations nobody confirmed in time."""

import asyncio

import structlog

from chassis.lifecycle import BackgroundTask
from inventory_service.service import SWEEP_BATCH, InventoryService

log = structlog.get_logger(__name__)


class ReservationSweeper(BackgroundTask):
    """A worker for the service's components: `start()` begins sweeping every
    `interval_seconds`, `stop()` cancels the sweep and waits until it has ended."""

    def __init__(self, service: InventoryService, interval_seconds: float) -> None:
        super().__init__("reservation-sweeper", self._sweep_forever)
        self.service = service
        self.interval = interval_seconds

    async def _sweep_forever(self) -> None:
        while True:
            try:
                # A full batch means more are due: sweep again at once.
                while await self.service.expire_due_reservations() == SWEEP_BATCH:
                    pass
            except Exception as exc:  # the database may be briefly away; try next round
                log.warning("reservation.sweep_failed", error=repr(exc))
            await asyncio.sleep(self.interval)
