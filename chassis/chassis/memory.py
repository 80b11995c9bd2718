"""Heap pages back to the system once start-up is over.

A service's start-up (imports, building routes and schemas, connecting pools; ai-service's
model load) frees much of what it allocated, but glibc keeps freed pages mapped, so they
stay in the process's RSS for good: measured 2-14 MB per service after import alone, ~75 MB
after ai-service's model load. ``release_free_memory()`` (glibc's ``malloc_trim``) hands them
back; create_app calls it once the lifespan's start-up has finished."""

import ctypes
import ctypes.util
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Return the heap pages malloc holds but nothing uses to the system; False where the C
    library has no such call. Walks the whole heap (a few ms): not for a request path."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
