"""The repository stands on its own: a clone into an empty folder, with nothing beside it,
passes the static checks, and nothing in it reads, links or mentions a path outside it.

Cheap on purpose (no servers): `git clone` of the committed state, then the Compose check
and the AsyncAPI staleness check run inside the clone, with the clone's own code.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Spelled in two parts so this file does not match its own search.
OUTSIDE = re.compile(r"\.\./" + "shared|/work/" + "shared")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, **env},
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / ".git").exists():
        pytest.fail(f"{ROOT} is not a git checkout: the fresh-clone test clones it")
    empty = tmp_path_factory.mktemp("fresh")
    target = empty / "repo"
    cloned = _run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)], empty)
    assert cloned.returncode == 0, cloned.stderr
    assert sorted(p.name for p in empty.iterdir()) == ["repo"]  # nothing beside it
    return target


def _tracked(clone: Path) -> list[Path]:
    listed = _run(["git", "ls-files", "-z"], clone).stdout.split("\0")
    return [clone / name for name in listed if name]


def test_no_tracked_file_mentions_a_path_outside_the_repository(clone: Path) -> None:
    offenders = []
    for path in _tracked(clone):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(clone)}:{number}: {line.strip()[:120]}")
    assert offenders == []


def test_every_relative_markdown_link_resolves_inside_the_repository(clone: Path) -> None:
    broken = []
    for path in _tracked(clone):
        if path.suffix != ".md" or "node_modules" in path.parts:
            continue
        for target in MARKDOWN_LINK.findall(path.read_text(encoding="utf-8")):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL or an anchor in the same page
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(clone.resolve()) or not resolved.exists():
                broken.append(f"{path.relative_to(clone)} -> {target}")
    assert broken == []


def test_the_asyncapi_document_of_the_clone_is_current(clone: Path) -> None:
    code = {"PYTHONPATH": f"{clone / 'contracts'}{os.pathsep}{clone / 'chassis'}"}
    where = _run(
        [sys.executable, "-c", "import contracts; print(contracts.__file__)"], clone, **code
    )
    assert where.stdout.strip().startswith(str(clone)), where.stdout + where.stderr
    check = _run([sys.executable, "-m", "contracts.asyncapi", "--check"], clone, **code)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_compose_check_passes_in_the_clone(clone: Path) -> None:
    check = _run([sys.executable, "docker/compose_check.py"], clone)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert "compose-check: all good" in check.stdout
