"""The shared no-5xx fuzz test must really fail when a service answers 5xx (and pass when
not)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SERVICE_AND_TEST = textwrap.dedent("""
    import socket, threading, time
    import pytest, uvicorn
    from fastapi import FastAPI
    from devstack.fuzzing import no_server_error_fuzz

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if BROKEN:  # every valid request crashes, so no sample of inputs can miss it
            raise RuntimeError("this service crashes")
        return {"id": item_id}

    @pytest.fixture(scope="module")
    def running_app():
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        thread.join()

    openapi_schema, test_fuzz = no_server_error_fuzz("running_app", max_examples=50)
""")


def _run(tmp_path: Path, broken: bool) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_generated_fuzz.py"
    test_file.write_text(f"BROKEN = {broken}\n" + SERVICE_AND_TEST)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("broken", [True, False])
def test_fuzz_test_fails_exactly_when_the_service_answers_5xx(tmp_path: Path, broken: bool) -> None:
    result = _run(tmp_path, broken)
    output = result.stdout + result.stderr
    if broken:
        assert result.returncode == 1, output
        assert "500" in output
    else:
        assert result.returncode == 0, output
