"""The image build-stage check: what it lays out and how it reports a failed step. (The real
run, `make image-check`, needs uv and the registry, so it is not part of the test suite.)"""

import importlib.util
import stat
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("image_check", ROOT / "docker/image_check.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["image_check"] = module
    spec.loader.exec_module(module)
    return module


ic = _load()


def test_every_service_is_a_workspace_member() -> None:
    from devstack.services import SERVICES

    members = ic.workspace_members(ROOT)
    assert "chassis" in members
    assert {spec.name for spec in SERVICES} <= set(members)


def test_a_failing_uv_step_is_reported_with_its_layer(tmp_path: Path) -> None:
    fake_uv = tmp_path / "uv"
    fake_uv.write_text('#!/bin/sh\necho "No solution found for order-service" >&2\nexit 2\n')
    fake_uv.chmod(fake_uv.stat().st_mode | stat.S_IEXEC)
    work = tmp_path / "work"
    work.mkdir()
    problem = ic.check_image("order-service", "order_service", ROOT, str(fake_uv), work)
    assert problem == "dependency layer: No solution found for order-service"
    # The layout mirrors the Dockerfile's first COPY steps.
    assert (work / "order-service" / "uv.lock").exists()
    assert (work / "order-service" / "chassis" / "pyproject.toml").exists()
    assert not (work / "order-service" / "chassis" / "chassis").exists()
