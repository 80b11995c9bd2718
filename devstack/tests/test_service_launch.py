"""Runs a tiny ASGI app under uvicorn the way `up` / start_service run a service."""

import sys
from pathlib import Path

import httpx
import pytest

from devstack.errors import StackError
from devstack.paths import process_paths
from devstack.pidfile import is_alive
from devstack.process import stop_by_pidfile
from devstack.progress import Progress
from devstack.services import ServiceLaunch, free_port, launch

APP = """
import json

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = json.dumps({"status": "UP", "service": "fake-service"}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
"""


def _launch(tmp_path: Path, app: str, port: int, name: str = "fake-service") -> ServiceLaunch:
    (tmp_path / "fake_app.py").write_text(APP)
    return launch(
        name=name,
        app=app,
        cwd=tmp_path,
        port=port,
        env={},
        paths=process_paths(tmp_path, "test", name),
        python=sys.executable,
        progress=Progress(quiet=True),
        timeout=20,
    )


def test_service_starts_answers_health_and_stops(tmp_path: Path) -> None:
    port = free_port()
    started = _launch(tmp_path, "fake_app:app", port)
    pid_file = process_paths(tmp_path, "test", "fake-service").pid
    try:
        assert started.started
        assert started.url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{started.url}/health").json()["service"] == "fake-service"
        again = _launch(tmp_path, "fake_app:app", port)
        assert not again.started
        with pytest.raises(StackError, match="taken by fake-service"):
            _launch(tmp_path, "fake_app:app", port, name="other-service")
    finally:
        pid = stop_by_pidfile(pid_file, grace=5)
    assert pid is not None
    assert not is_alive(pid)


def test_service_that_cannot_start_reports_its_log_tail(tmp_path: Path) -> None:
    with pytest.raises(StackError) as failure:
        _launch(tmp_path, "missing_module:app", free_port())
    assert failure.value.component == "fake-service"
    assert "process exited" in failure.value.reason
    assert any("missing_module" in line for line in failure.value.log_tail)
    assert not process_paths(tmp_path, "test", "fake-service").pid.exists()
