"""`devstack infra | up | stop | status [--profile dev|test|bench]`."""

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from devstack.asyncbridge import run_sync
from devstack.errors import StackError
from devstack.paths import find_repo_root, state_dir
from devstack.pidfile import running_pid
from devstack.process import stop_by_pidfile
from devstack.profiles import PROFILES, Profile, get_profile
from devstack.progress import Progress
from devstack.provisioning import create_databases, create_topics
from devstack.services import (
    SERVICE_DATABASES,
    SERVICES,
    STOP_GRACE_SECONDS,
    base_url,
    get_service,
    launch_service,
    python_for,
    running_service_name,
    service_env,
    service_paths,
)
from devstack.stack import COMPONENTS, Stack
from devstack.status_table import StatusRow, format_status_table
from devstack.topics import TOPICS


def start_infra(stack: Stack) -> None:
    stack.ensure(COMPONENTS)
    progress = stack.progress
    try:
        created = run_sync(create_databases(stack.profile, SERVICE_DATABASES))
    except Exception as exc:
        raise StackError("postgres", f"creating databases failed: {exc}") from exc
    progress.event(
        f"postgres databases ready: {', '.join(SERVICE_DATABASES)}"
        + (f" (created {', '.join(created)})" if created else "")
    )
    try:
        counts = run_sync(create_topics(stack.profile.kafka_bootstrap, TOPICS))
    except Exception as exc:
        raise StackError("kafka", f"creating topics failed: {exc}") from exc
    progress.event(f"kafka topics ready: {len(counts)} topics")


def start_services(stack: Stack) -> list[str]:
    urls = []
    for spec in SERVICES:
        launched = launch_service(spec, stack.profile, stack.root, stack.progress)
        urls.append(f"{spec.name:<22} {launched.url}")
    return urls


DEMO_SEED_TIMEOUT_SECONDS = 180.0


def load_demo_data(stack: Stack) -> None:
    """The demo catalog, through product-service's own idempotent seed command. A failure is
    reported, never fatal: the stack is up either way."""
    spec = get_service("product-service")
    command = [python_for(stack.root), "-m", "product_service.seed"]
    stack.progress.event("loading demo catalog: python -m product_service.seed")
    try:
        result = subprocess.run(
            command,
            cwd=spec.folder(stack.root),
            capture_output=True,
            text=True,
            env={**os.environ, **service_env(spec, stack.profile)},
            timeout=DEMO_SEED_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        stack.progress.event(f"demo catalog: seed did not finish in {DEMO_SEED_TIMEOUT_SECONDS}s")
        return
    tail = (result.stdout + result.stderr).strip().splitlines()[-1:] or [""]
    state = "loaded" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
    stack.progress.event(f"demo catalog {state}: {tail[0][:300]}")


def stop_services(root: Path, profile: Profile, progress: Progress) -> None:
    # Also the copies tests started on other ports (`<service>-<port>` folders).
    profile_dir = state_dir(root, profile.name)
    names = {spec.name for spec in SERVICES}
    folders = (
        [
            folder
            for folder in sorted(profile_dir.glob("*"))
            if folder.name in names or folder.name.rsplit("-", 1)[0] in names
        ]
        if profile_dir.is_dir()
        else []
    )
    for folder in folders:
        pid = stop_by_pidfile(folder / "pid", grace=STOP_GRACE_SECONDS)
        if pid is not None:
            progress.event(f"{folder.name} stopped (pid {pid})")


def status_rows(stack: Stack) -> list[StatusRow]:
    rows = stack.status()
    for spec in SERVICES:
        paths = service_paths(stack.root, stack.profile, spec, spec.port)
        pid = running_pid(paths.pid)
        url = base_url(spec.port, stack.profile.host)
        answering = running_service_name(url) == spec.name
        if pid is not None:
            state = "UP" if answering else "UNRESPONSIVE"
        else:
            state = "REUSED" if answering else "DOWN"
        rows.append(StatusRow(spec.name, state, pid, spec.port, url))
    return rows


def next_steps(stack: Stack) -> str:
    """Where to start once the fleet is up: the gateway, a token, the sent emails."""
    gateway = base_url(get_service("api-gateway").port, stack.profile.host)
    return "\n".join(
        [
            "",
            f"gateway:  {gateway}   (try: curl {gateway}/api/products)",
            f"token:    make token USER=admin   (or USER=customer; provider "
            f"{stack.profile.oidc_issuer}); send it as 'Authorization: Bearer <token>'",
            "          the gateway checks tokens only with AUTH_ENABLED=true "
            "(a development switch; off by default in the local stack)",
            f"emails:   {stack.mail_folder()}   (one .eml file per message the SMTP sink accepted)",
            "",
            f"shop:     {gateway}/   (open it in a browser: the storefront, served by the gateway)",
        ]
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    parser.add_argument("command", choices=("infra", "up", "stop", "status"))
    parser.add_argument("--profile", choices=tuple(PROFILES), default="dev")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for each component to answer"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    progress = Progress()
    profile = get_profile(args.profile)
    stack = Stack(profile, find_repo_root(), progress, args.timeout)
    try:
        match args.command:
            case "infra":
                start_infra(stack)
                print(format_status_table(stack.status()))
            case "up":
                start_infra(stack)
                urls = start_services(stack)
                load_demo_data(stack)
                print(format_status_table(status_rows(stack)))
                print("\n".join(urls))
                print(next_steps(stack))
            case "stop":
                stop_services(stack.root, profile, progress)
                stack.stop_all()
                progress.event(f"profile {profile.name} stopped")
            case "status":
                print(format_status_table(status_rows(stack)))
    except StackError as exc:
        sys.stderr.write(f"devstack: FAILED {exc.render()}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("devstack: interrupted; `devstack stop` stops what was started\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
