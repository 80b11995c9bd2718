import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack.pidfile import is_alive, process_start_time, read_pid, running_pid, write_pid
from devstack.process import spawn, stop_by_pidfile

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
IGNORES_SIGTERM = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ar' + 'med', "
    "flush=True); time.sleep(60)",
]


def test_pid_file_round_trips_pid_and_start_time(tmp_path: Path) -> None:
    record = write_pid(tmp_path / "pid", os.getpid())
    assert read_pid(tmp_path / "pid") == record
    assert record.start_time == process_start_time(os.getpid())
    assert running_pid(tmp_path / "pid") == os.getpid()


def test_stale_pid_file_is_removed(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    (tmp_path / "pid").write_text(f"{child.pid}\n")
    assert running_pid(tmp_path / "pid") is None
    assert not (tmp_path / "pid").exists()


def test_reused_pid_with_another_start_time_is_not_ours(tmp_path: Path) -> None:
    start = process_start_time(os.getpid())
    assert start is not None
    (tmp_path / "pid").write_text(f"{os.getpid()}\n{start + 1}\n")
    assert running_pid(tmp_path / "pid") is None


def test_garbage_pid_file_reads_as_nothing(tmp_path: Path) -> None:
    (tmp_path / "pid").write_text("not a pid\n")
    assert read_pid(tmp_path / "pid") is None
    assert running_pid(tmp_path / "pid") is None
    assert read_pid(tmp_path / "missing") is None


def test_spawned_process_outlives_its_session_and_stops_by_pid_file(tmp_path: Path) -> None:
    child = spawn(SLEEPER, log_path=tmp_path / "log", pid_path=tmp_path / "pid")
    assert os.getsid(child.pid) == child.pid  # own session: the CLI can exit
    assert running_pid(tmp_path / "pid") == child.pid
    assert stop_by_pidfile(tmp_path / "pid", grace=5) == child.pid
    assert not is_alive(child.pid)
    assert not (tmp_path / "pid").exists()
    assert stop_by_pidfile(tmp_path / "pid") is None


def test_process_ignoring_sigterm_is_killed_after_grace(tmp_path: Path) -> None:
    child = spawn(IGNORES_SIGTERM, log_path=tmp_path / "log", pid_path=tmp_path / "pid")
    deadline = time.monotonic() + 10
    while "armed" not in (tmp_path / "log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    assert stop_by_pidfile(tmp_path / "pid", first_signal=signal.SIGTERM, grace=0.5) == child.pid
    assert time.monotonic() - started >= 0.5  # it outlived SIGTERM and needed SIGKILL
    assert not is_alive(child.pid)
