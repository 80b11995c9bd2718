"""Where the local stack keeps its state: `<repo>/.local/<profile>/<process>/{data,log,pid}`."""

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "DEVSTACK_ROOT"
STATE_DIR_NAME = ".local"


class RepoRootNotFound(RuntimeError):
    pass


def _is_workspace_root(directory: Path) -> bool:
    pyproject = directory / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        config = tomllib.loads(pyproject.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return "workspace" in config.get("tool", {}).get("uv", {})


def find_repo_root(start: Path | None = None) -> Path:
    """DEVSTACK_ROOT wins; else walk up from `start` (or the cwd, then this file) to the
    directory whose pyproject.toml declares `[tool.uv.workspace]`."""
    override = os.environ.get(ROOT_ENV)
    if override:
        return Path(override).resolve()
    starts = [start] if start is not None else [Path.cwd(), Path(__file__).parent]
    for origin in starts:
        for directory in [origin.resolve(), *origin.resolve().parents]:
            if _is_workspace_root(directory):
                return directory
    raise RepoRootNotFound(
        f"no pyproject.toml with [tool.uv.workspace] above {starts[0]}; set {ROOT_ENV}"
    )


@dataclass(frozen=True)
class ProcessPaths:
    """The files of one process the stack starts."""

    base: Path

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "log"

    @property
    def pid(self) -> Path:
        return self.base / "pid"

    def create(self) -> "ProcessPaths":
        self.data.mkdir(parents=True, exist_ok=True)
        return self


def state_dir(root: Path, profile_name: str) -> Path:
    return root / STATE_DIR_NAME / profile_name


def process_paths(root: Path, profile_name: str, process: str) -> ProcessPaths:
    return ProcessPaths(state_dir(root, profile_name) / process)
