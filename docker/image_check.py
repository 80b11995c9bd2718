"""`make image-check`: each service image's build stage, run without Docker.

The workspace .venv holds every package of the fleet, so a service that imports something only
another service depends on passes every test and still crashes in its own image. This does
what the Dockerfile's build stage does for each service (build arg SERVICE; the conventions
`make compose-check` enforces): lay out the workspace's pyproject files and uv.lock,
`uv sync --frozen --no-dev --package <service> --no-install-workspace`, add chassis/ and the
service folder, `uv sync ... --no-editable`; then imports `<pkg>.main` (which builds the app)
from outside the source tree with only that environment, as the container's CMD would. It
prints each environment's size: what the runtime stage copies over the python base image.

Needs uv and the package registry (or uv's cache). Usage:
    .venv/bin/python docker/image_check.py [service ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPY_IGNORE = shutil.ignore_patterns(
    "tests", "__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", "node_modules"
)


def workspace_members(root: Path) -> list[str]:
    import tomllib

    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["uv"]["workspace"]["members"])


def uv_binary() -> str:
    found = shutil.which("uv") or str(ROOT / ".local/tools/bin/uv")
    if not Path(found).exists():
        raise SystemExit("image-check: uv not found (make install puts it in .local/tools)")
    return found


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900
    )


def tree_size(folder: Path) -> int:
    """Bytes of every regular file below folder (links not followed): the size of the venv the
    runtime stage copies, i.e. the image's own layer over the python base image."""
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def check_image(
    service: str,
    package: str,
    root: Path,
    uv: str,
    workdir: Path,
    sizes: dict[str, int] | None = None,
) -> str | None:
    """None when the image's environment imports the app; else what went wrong. `sizes`, when
    given, receives the venv's size in bytes under the service's name."""
    app = workdir / service
    app.mkdir()
    shutil.copy(root / "pyproject.toml", app)
    shutil.copy(root / "uv.lock", app)
    for member in workspace_members(root):
        (app / member).mkdir(parents=True, exist_ok=True)
        shutil.copy(root / member / "pyproject.toml", app / member / "pyproject.toml")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH"))
    }
    env |= {"UV_PYTHON_DOWNLOADS": "never", "UV_LINK_MODE": "copy", "UV_NO_PROGRESS": "1"}
    sync = [uv, "sync", "--frozen", "--no-dev", "--package", service]
    step = _run([*sync, "--no-install-workspace"], app, env)
    if step.returncode != 0:
        return f"dependency layer: {step.stderr.strip()[-2000:]}"
    for folder in ("chassis", "contracts", service):
        shutil.rmtree(app / folder)
        shutil.copytree(root / folder, app / folder, ignore=COPY_IGNORE)
    step = _run([*sync, "--no-editable"], app, env)
    if step.returncode != 0:
        return f"project layer: {step.stderr.strip()[-2000:]}"
    if sizes is not None:
        sizes[service] = tree_size(app / ".venv")
    python = app / ".venv" / "bin" / "python"
    clean = {"PATH": f"{app / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": str(workdir)}
    probe = _run([str(python), "-c", f"import {package}.main"], workdir, clean)
    if probe.returncode != 0:
        return f"`import {package}.main` fails in the image's environment:\n" + "\n".join(
            "       " + line for line in probe.stderr.strip().splitlines()[-6:]
        )
    return None


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT / "devstack"))
    from devstack.services import SERVICES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("services", nargs="*", help="default: all seven")
    args = parser.parse_args(argv)
    chosen = [s for s in SERVICES if not args.services or s.name in args.services]
    uv = uv_binary()
    failures = 0
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="image-check-") as tmp:
        for spec in chosen:
            problem = check_image(spec.name, spec.package, ROOT, uv, Path(tmp), sizes)
            if problem:
                failures += 1
                print(f"FAIL {spec.name}: {problem}")
            else:
                print(
                    f"ok   {spec.name}: its image's environment imports {spec.package}.main "
                    f"(venv {sizes[spec.name] / 1e6:.1f} MB)"
                )
    print(
        f"image-check: {failures} of {len(chosen)} image(s) broken"
        if failures
        else f"image-check: {len(chosen)} image(s) good"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
