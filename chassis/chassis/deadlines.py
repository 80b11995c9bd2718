"""The one timeout rule: every outbound call has a timeout per attempt (the dependency's
`<DEPENDENCY>_TIMEOUT_SECONDS`), and no call outlives the request it serves.

The gateway knows how long it will wait for a service (its upstream timeout); it sends that
budget as `X-Request-Timeout-Ms`, relative so that no clocks need to agree. The chassis reads
the header on every request into a context variable (`RequestMiddleware` in chassis.app),
`chassis.resilience.RetryPolicy` caps each attempt at what is left of it and stops retrying once
it is spent (a 504 with a sentence, before the caller gives up on us), and a service that calls
another passes on what is left (`outgoing_headers()`). Work not serving a request (Kafka
consumers, start-up loads) has no deadline: only the per-attempt timeouts bound it.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

DEADLINE_HEADER = "X-Request-Timeout-Ms"
DEADLINE_HEADER_BYTES = DEADLINE_HEADER.lower().encode("latin-1")
# A budget above this is not a deadline anybody means; it is ignored like a malformed one.
MAX_BUDGET_MS = 600_000

_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


class DeadlineExceeded(TimeoutError):
    """The request this call serves has no time left for another attempt."""


def parse_budget_ms(raw: bytes | str) -> float | None:
    """Seconds from a header value in whole milliseconds; None when it is not 1..600000.
    The header is a hint between our own services: a bad one is ignored, never an error."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    text = text.strip()
    if not text.isdigit() or len(text) > 7:
        return None
    millis = int(text)
    if not 0 < millis <= MAX_BUDGET_MS:
        return None
    return millis / 1000


def remaining_seconds() -> float | None:
    """What is left of the current request's budget (may be negative), or None without one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def cap(timeout: float | None, *, reserve: float = 0.0) -> float | None:
    """The timeout for the next attempt: `timeout`, or less when the request's budget (minus
    `reserve`, time the caller keeps for itself, e.g. to degrade) ends sooner."""
    left = remaining_seconds()
    if left is None:
        return timeout
    left -= reserve
    return left if timeout is None else min(timeout, left)


@contextmanager
def deadline_in(seconds: float | None) -> Iterator[None]:
    """Run the block under a budget of `seconds` from now (None: no deadline). A budget never
    grows: inside an earlier deadline the earlier one holds."""
    if seconds is None:
        yield
        return
    wanted = time.monotonic() + seconds
    current = _deadline.get()
    token = _deadline.set(wanted if current is None else min(current, wanted))
    try:
        yield
    finally:
        _deadline.reset(token)


def outgoing_headers() -> dict[str, str]:
    """The header that passes what is left of the budget on to the next service ({} without
    a deadline; at least 1 ms, so a spent budget still reads as one)."""
    left = remaining_seconds()
    if left is None:
        return {}
    return {DEADLINE_HEADER: str(max(1, int(left * 1000)))}
