"""The `devstack status` table: one aligned row per component and service."""

from collections.abc import Sequence
from dataclasses import dataclass

HEADERS = ("COMPONENT", "STATE", "PID", "PORT", "ADDRESS")


@dataclass(frozen=True)
class StatusRow:
    component: str
    state: str
    pid: int | None
    port: int
    address: str

    def cells(self) -> tuple[str, ...]:
        return (
            self.component,
            self.state,
            str(self.pid) if self.pid else "-",
            str(self.port),
            self.address,
        )


def format_status_table(rows: Sequence[StatusRow]) -> str:
    table = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    )
