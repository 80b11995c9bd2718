"""Progress lines on stderr while the stack waits, so a slow start never looks like a hang."""

import sys
import time
from typing import TextIO

PREFIX = "devstack"


class Progress:
    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self._stream = stream
        self.quiet = quiet

    def event(self, message: str) -> None:
        if self.quiet:
            return
        stream = self._stream or sys.stderr
        stream.write(f"{PREFIX}: {message}\n")
        stream.flush()


class WaitClock:
    """Emits 'waiting for X on ADDR ... 1.2s' about once a second."""

    def __init__(self, progress: Progress, what: str, address: str, every: float = 1.0) -> None:
        self.progress = progress
        self.what = what
        self.address = address
        self.every = every
        self.started = time.monotonic()
        self._last = self.started

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.progress.event(
                f"waiting for {self.what} on {self.address} ... {self.elapsed:.1f}s"
            )
