from typing import Protocol


class LLMError(Exception):
    """A provider call failed. `retryable`: 429, 5xx, timeouts and connection trouble."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class ChatModel(Protocol):
    """One chat completion: a system and a user message in, the model's text (JSON asked
    for) out. Implementations raise LLMError and nothing else."""

    @property
    def label(self) -> str: ...

    async def complete(self, system: str, user: str) -> str: ...

    async def close(self) -> None: ...


def status_is_retryable(status: int) -> bool:
    return status == 429 or status == 408 or status >= 500
