"""A private PostgreSQL cluster under `.local/<profile>/postgres/data`, used only when no
server answers on the configured port. It is initdb'd with trust auth for local
connections, listens on 127.0.0.1 only and is our child process (stopped by PID), so it
never touches the system cluster's config or service manager."""

import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

from devstack.errors import StackError
from devstack.paths import ProcessPaths
from devstack.profiles import Profile
from devstack.progress import Progress
from devstack.system_packages import apt_install

DEBIAN_PACKAGE = "postgresql"
# PostgreSQL refuses to run as root; as root we run it as the account the package creates.
SERVER_USER = "postgres"


def find_bindir() -> Path | None:
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(re.sub(r"\D", "", p.parent.parent.name) or 0),
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("postgres")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    return None


def ensure_binaries(progress: Progress) -> Path:
    bindir = find_bindir()
    if bindir is None:
        apt_install("postgres", DEBIAN_PACKAGE, progress)
        bindir = find_bindir()
    if bindir is None:
        raise StackError("postgres", "postgres/initdb binaries not found after install")
    return bindir


def run_as_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError as exc:
        raise StackError(
            "postgres", f"running as root and no {SERVER_USER!r} account to run PostgreSQL as"
        ) from exc
    return SERVER_USER


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for directory, _, files in os.walk(path):
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(directory, name), entry.pw_uid, entry.pw_gid)


def init_cluster(bindir: Path, paths: ProcessPaths, profile: Profile, progress: Progress) -> None:
    if (paths.data / "PG_VERSION").exists():
        return
    paths.create()
    user = run_as_user()
    if user:
        _chown_tree(paths.data, user)
    progress.event(f"postgres initdb {paths.data}")
    with paths.log.open("ab") as log:
        result = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(paths.data),
                "-U",
                profile.postgres_user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=user,
            check=False,
        )
    if result.returncode != 0:
        raise StackError("postgres", f"initdb failed ({result.returncode})", paths.log)


def server_command(bindir: Path, paths: ProcessPaths, profile: Profile) -> list[str]:
    return [
        str(bindir / "postgres"),
        "-D",
        str(paths.data),
        "-p",
        str(profile.postgres_port),
        "-c",
        f"listen_addresses={profile.host}",
        # TCP only: a socket path under a deep repo could exceed the 107-byte limit.
        "-c",
        "unix_socket_directories=",
    ]
