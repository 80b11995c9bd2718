from pathlib import Path

import pytest

from devstack.paths import ROOT_ENV, RepoRootNotFound, find_repo_root, process_paths


def test_repo_root_is_the_uv_workspace_above(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ROOT_ENV, raising=False)
    (tmp_path / "pyproject.toml").write_text("[tool.uv.workspace]\nmembers = ['a']\n")
    member = tmp_path / "a" / "pkg"
    member.mkdir(parents=True)
    (tmp_path / "a" / "pyproject.toml").write_text("[project]\nname = 'a'\n")
    assert find_repo_root(member) == tmp_path


def test_devstack_root_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    assert find_repo_root(Path("/")) == tmp_path


def test_no_workspace_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROOT_ENV, raising=False)
    with pytest.raises(RepoRootNotFound):
        find_repo_root(tmp_path)


def test_process_files_live_under_local_profile(tmp_path: Path) -> None:
    paths = process_paths(tmp_path, "dev", "noida-db")
    assert paths.data == tmp_path / ".local/dev/noida-db/data"
    assert paths.log == tmp_path / ".local/dev/noida-db/log"
    assert paths.pid == tmp_path / ".local/dev/noida-db/pid"
