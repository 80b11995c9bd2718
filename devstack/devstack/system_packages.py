"""Installs a missing server from the OS packages, only where that is safe to do unasked:
as root on Debian/Ubuntu. Output streams through so the download shows progress."""

import os
import shutil
import subprocess
from pathlib import Path

from devstack.errors import StackError
from devstack.progress import Progress


def can_apt_install() -> bool:
    return (
        os.geteuid() == 0
        and Path("/etc/debian_version").exists()
        and shutil.which("apt-get") is not None
    )


def apt_install(component: str, package: str, progress: Progress) -> None:
    if not can_apt_install():
        raise StackError(
            component,
            f"{package} is not installed and cannot be installed here (needs root on "
            f"Debian/Ubuntu); install it, e.g. `sudo apt-get install -y {package}`",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
        progress.event(f"{component} installing: {' '.join(command)}")
        # stdout goes to our stderr: progress lines, never mixed into the CLI's stdout.
        result = subprocess.run(command, env=env, stdout=2, stderr=2, check=False)
        if result.returncode != 0:
            raise StackError(component, f"`{' '.join(command)}` failed ({result.returncode})")
