"""Debian's Chromium for the storefront's browser tests and benchmark, driven by Playwright
through the system browser's path: nothing downloads a browser. Installed with
`apt-get install -y chromium` (as root on Debian/Ubuntu) when missing."""

import shutil

from devstack.errors import StackError
from devstack.progress import Progress
from devstack.system_packages import apt_install

CANDIDATES = ("chromium", "chromium-browser")
# With headless=True, and quiet: without the networking flags Chromium keeps calling home,
# which on a machine without internet only costs time.
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--mute-audio",
)


def chromium_executable(progress: Progress | None = None) -> str:
    for name in CANDIDATES:
        if found := shutil.which(name):
            return found
    apt_install("chromium", "chromium", progress or Progress())
    for name in CANDIDATES:
        if found := shutil.which(name):
            return found
    raise StackError("chromium", "`apt-get install -y chromium` ran but no chromium is on PATH")
