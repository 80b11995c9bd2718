"""Poll a probe until the server answers, its process dies, or the timeout passes."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from devstack.asyncbridge import run_sync
from devstack.errors import StackError
from devstack.probes import PROBE_TIMEOUT_SECONDS, Probe
from devstack.progress import Progress, WaitClock

POLL_INTERVAL_SECONDS = 0.25


async def _attempt(probe: Probe) -> None:
    await asyncio.wait_for(probe(), PROBE_TIMEOUT_SECONDS + 1)


def answers(probe: Probe) -> bool:
    try:
        run_sync(_attempt(probe))
    except Exception:
        return False
    return True


def wait_ready(
    what: str,
    address: str,
    probe: Probe,
    *,
    timeout: float,
    progress: Progress,
    alive: Callable[[], bool] | None = None,
    log_path: Path | None = None,
) -> float:
    """Seconds it took; raises StackError with the log tail on timeout or early exit."""
    clock = WaitClock(progress, what, address)
    last_error = "no attempt made"
    while True:
        try:
            run_sync(_attempt(probe))
        except Exception as exc:
            last_error = f"{type(exc).__name__}: {exc}".strip()[:300]
        else:
            progress.event(f"{what} ready on {address} in {clock.elapsed:.1f}s")
            return clock.elapsed
        if alive is not None and not alive():
            raise StackError(what, f"process exited before {address} answered", log_path)
        if clock.elapsed > timeout:
            raise StackError(
                what, f"no answer on {address} within {timeout:.0f}s ({last_error})", log_path
            )
        clock.tick()
        time.sleep(POLL_INTERVAL_SECONDS)
