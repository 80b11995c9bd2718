"""What the wrk-driven benchmarks share: a log line, a Debian program installed on first use,
and servers started as child processes that answer before they are used and are stopped after.

The benchmarks run as scripts (`python bench/<name>.py`), so this folder is importable as
`benchtools` beside them; `make bench` runs only bench/*.py, not this package."""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx

from devstack.progress import Progress
from devstack.system_packages import apt_install


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def ensure(program: str, package: str) -> str:
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        log(f"{program} not found; installing the Debian package {package}")
        apt_install(program, package, Progress())
        found = shutil.which(program) or shutil.which(program, path="/usr/sbin")
    if found is None:
        raise SystemExit(f"{program} is required (apt-get install -y {package})")
    return found


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout}s")


@contextmanager
def process(
    command: list[str],
    probe: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` started in its own session; yields once `probe` answers, stops it after."""
    child = subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(probe, timeout)
        yield child
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def uvicorn(
    app: str, port: int, probe: str, env: Mapping[str, str], app_dir: Path, timeout: float = 60.0
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """`app` under one uvicorn process on 127.0.0.1:`port` (quiet), ready once `probe` answers."""
    return process(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--app-dir",
            str(app_dir),
        ],
        f"http://127.0.0.1:{port}{probe}",
        env,
        timeout=timeout,
    )
