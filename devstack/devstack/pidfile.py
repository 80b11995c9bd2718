"""PID files that name exactly one process: the PID plus its kernel start time, so a PID
the kernel has since reused for something else is never signalled."""

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PidRecord:
    pid: int
    start_time: int | None


def process_start_time(pid: int) -> int | None:
    """Clock ticks after boot at which `pid` started (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces or parens; fields after it are plain.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _reap(pid: int) -> None:
    # Our own children become zombies until waited for; other processes are not ours to reap.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    _reap(pid)
    state = _state(pid)
    if state is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state not in ("Z", "X")


def write_pid(path: Path, pid: int) -> PidRecord:
    record = PidRecord(pid, process_start_time(pid))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{record.pid}\n{record.start_time if record.start_time is not None else ''}\n")
    tmp.replace(path)
    return record


def read_pid(path: Path) -> PidRecord | None:
    try:
        lines = path.read_text().split("\n")
    except OSError:
        return None
    try:
        pid = int(lines[0].strip())
    except (ValueError, IndexError):
        return None
    start = lines[1].strip() if len(lines) > 1 else ""
    return PidRecord(pid, int(start) if start.isdigit() else None)


def running_pid(path: Path) -> int | None:
    """The PID from `path` if that very process still runs; removes a stale file."""
    record = read_pid(path)
    if record is None:
        path.unlink(missing_ok=True)
        return None
    same_process = record.start_time is None or record.start_time == process_start_time(record.pid)
    if is_alive(record.pid) and same_process:
        return record.pid
    path.unlink(missing_ok=True)
    return None
