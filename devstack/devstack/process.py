"""Start a program detached (its own session, so it outlives the CLI) with its output in a
log file and its PID in a PID file; stop it by that PID file and nothing else."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.pidfile import is_alive, running_pid, write_pid

DEFAULT_GRACE_SECONDS = 15.0


def spawn(
    command: Sequence[str],
    *,
    log_path: Path,
    pid_path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(
            f"\n=== devstack start {time.strftime('%Y-%m-%dT%H:%M:%S')}: "
            f"{' '.join(command)}\n".encode()
        )
        log.flush()
        child = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            user=user,
        )
    write_pid(pid_path, child.pid)
    return child


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # start_new_session made the child a group leader: signal the group so helpers it
    # forked (a wrapper's server binary, uvicorn workers) go with it.
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    return not is_alive(pid)


def terminate(
    pid: int,
    *,
    first_signal: signal.Signals = signal.SIGTERM,
    grace: float = DEFAULT_GRACE_SECONDS,
) -> bool:
    """`first_signal`, wait up to `grace` seconds, then SIGKILL. True if it stopped
    without SIGKILL."""
    _signal_group(pid, first_signal)
    if wait_gone(pid, grace):
        return True
    _signal_group(pid, signal.SIGKILL)
    wait_gone(pid, 5.0)
    return False


def stop_by_pidfile(
    pid_path: Path,
    *,
    first_signal: signal.Signals = signal.SIGTERM,
    grace: float = DEFAULT_GRACE_SECONDS,
) -> int | None:
    """Stops the process the file names; returns its PID, or None if nothing ran."""
    pid = running_pid(pid_path)
    if pid is None:
        return None
    terminate(pid, first_signal=first_signal, grace=grace)
    pid_path.unlink(missing_ok=True)
    return pid
