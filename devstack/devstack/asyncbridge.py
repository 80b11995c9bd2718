"""Run a coroutine from synchronous code, also when the caller already runs an event loop
(an async test or benchmark calling the sync API): then it runs on a private thread."""

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[T] = []
    error: list[BaseException] = []

    def runner() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=runner, name="devstack-run-sync")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
