"""The one error the stack raises: which piece failed, why, and the tail of its log."""

from pathlib import Path

from devstack.logtail import tail


class StackError(RuntimeError):
    def __init__(self, component: str, reason: str, log_path: Path | None = None) -> None:
        self.component = component
        self.reason = reason
        self.log_path = log_path
        self.log_tail = tail(log_path) if log_path is not None else []
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.component}: {self.reason}"
        if self.log_path is not None:
            text += f"\n--- last {len(self.log_tail)} lines of {self.log_path} ---"
            if self.log_tail:
                text += "\n" + "\n".join(self.log_tail)
        return text
