"""The seven services: where they live, which port they take, the environment they get,
and how one is run under uvicorn as a child process."""

import os
import shlex
import shutil
import socket
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack import probes
from devstack.asyncbridge import run_sync
from devstack.errors import StackError
from devstack.paths import ProcessPaths, find_repo_root, process_paths
from devstack.pidfile import is_alive, running_pid
from devstack.process import spawn, stop_by_pidfile
from devstack.profiles import Profile, get_profile
from devstack.progress import Progress
from devstack.waiting import wait_ready

HEALTH_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    package: str
    port: int
    database: str | None = None
    # Services it calls over REST; each gets <NAME>_URL (INVENTORY_SERVICE_URL) in its env.
    upstreams: tuple[str, ...] = ()

    def folder(self, root: Path) -> Path:
        return root / self.name


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "api-gateway",
        "api_gateway",
        9000,
        upstreams=(
            "product-service",
            "order-service",
            "inventory-service",
            "ai-service",
            "search-service",
            "notification-service",
        ),
    ),
    ServiceSpec("product-service", "product_service", 8001, upstreams=("inventory-service",)),
    ServiceSpec(
        "order-service",
        "order_service",
        8002,
        database="order_db",
        upstreams=("inventory-service",),
    ),
    ServiceSpec("inventory-service", "inventory_service", 8003, database="inventory_db"),
    ServiceSpec("notification-service", "notification_service", 8004),
    ServiceSpec("ai-service", "ai_service", 8005, upstreams=("product-service",)),
    ServiceSpec("search-service", "search_service", 8006, upstreams=("product-service",)),
)

SERVICE_DATABASES: tuple[str, ...] = tuple(s.database for s in SERVICES if s.database)


class UnknownService(ValueError):
    pass


def get_service(name: str) -> ServiceSpec:
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise UnknownService(
        f"unknown service {name!r}; choose one of {', '.join(s.name for s in SERVICES)}"
    )


def service_env(spec: ServiceSpec, profile: Profile) -> dict[str, str]:
    """The variables Compose sets for this service, pointing at this profile's stack."""
    env = {
        "SERVICE_NAME": spec.name,
        "LOG_LEVEL": "INFO",
        "KAFKA_BOOTSTRAP_SERVERS": profile.kafka_bootstrap,
        "REDIS_URL": profile.redis_url,
        "MONGODB_URL": profile.mongodb_url,
        "ELASTICSEARCH_URL": profile.elasticsearch_url,
        "SMTP_HOST": profile.host,
        "SMTP_PORT": str(profile.smtp_port),
    }
    if spec.database:
        env["DATABASE_URL"] = profile.postgres_url(spec.database)
        if profile.name == "test":
            # The test suites keep many services alive at once on one PostgreSQL (often with
            # max_connections 100); a pool of 32 per process, held after a burst, would exhaust
            # it. Ten per process is plenty for the tests' concurrency; dev and bench keep 32.
            env["DB_POOL_SIZE"] = "10"
    for upstream in spec.upstreams:
        # The registry port: right for dev and compose; tests on free ports override it.
        target = get_service(upstream)
        env[f"{upstream.upper().replace('-', '_')}_URL"] = base_url(target.port, profile.host)
    return env


def python_for(root: Path) -> str:
    venv_python = root / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def base_url(port: int, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{port}"


def running_service_name(url: str) -> str | None:
    """The name /health reports at `url`, or None if nothing answers there."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    if not probes.port_open(host, int(port)):
        return None
    try:
        return run_sync(probes.service_health(url))
    except Exception:
        return None


@dataclass(frozen=True)
class ServiceLaunch:
    """A running service; `started` is False when it was found already running."""

    name: str
    url: str
    pid: int | None
    started: bool


def launch(
    *,
    name: str,
    app: str,
    cwd: Path,
    port: int,
    env: Mapping[str, str],
    paths: ProcessPaths,
    python: str,
    progress: Progress,
    timeout: float = HEALTH_TIMEOUT_SECONDS,
    host: str = "127.0.0.1",
) -> ServiceLaunch:
    """Runs `python -m uvicorn APP` and waits for /health == 200. A port already answering
    /health as `name` counts as running; any other occupant is an error."""
    url = base_url(port, host)
    current = running_service_name(url)
    if current == name:
        progress.event(f"{name} already running at {url}")
        return ServiceLaunch(name, url, running_pid(paths.pid), started=False)
    if current is not None or probes.port_open(host, port):
        raise StackError(name, f"port {port} is taken by {current or 'another program'}")
    paths.base.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "uvicorn", app, "--host", host, "--port", str(port)]
    progress.event(f"{name} starting: {shlex.join(command)}")
    child = spawn(
        command, log_path=paths.log, pid_path=paths.pid, cwd=cwd, env={**os.environ, **env}
    )
    try:
        wait_ready(
            name,
            f"{url}/health",
            lambda: probes.service_health(url),
            timeout=timeout,
            progress=progress,
            alive=lambda: is_alive(child.pid),
            log_path=paths.log,
        )
    except StackError:
        stop_by_pidfile(paths.pid, grace=STOP_GRACE_SECONDS)
        raise
    return ServiceLaunch(name, url, child.pid, started=True)


def service_paths(root: Path, profile: Profile, spec: ServiceSpec, port: int) -> ProcessPaths:
    # A second copy on another port (tests) gets its own folder so logs never interleave.
    folder = spec.name if port == spec.port else f"{spec.name}-{port}"
    return process_paths(root, profile.name, folder)


def launch_service(
    spec: ServiceSpec,
    profile: Profile,
    root: Path,
    progress: Progress,
    *,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = HEALTH_TIMEOUT_SECONDS,
) -> ServiceLaunch:
    port = port or spec.port
    folder = spec.folder(root)
    if not folder.is_dir():
        raise StackError(spec.name, f"service folder {folder} does not exist")
    # A stable consumer-group member id per replica (chassis: KAFKA_GROUP_INSTANCE_ID): the
    # same service restarted on the same port takes its partitions straight back.
    identity = {"KAFKA_GROUP_INSTANCE_ID": f"{spec.name}-{port}"}
    return launch(
        name=spec.name,
        app=f"{spec.package}.main:app",
        cwd=folder,
        port=port,
        env={**service_env(spec, profile), **identity, **(env or {})},
        paths=service_paths(root, profile, spec, port),
        python=python_for(root),
        progress=progress,
        timeout=timeout,
        host=profile.host,
    )


def stop_service(spec: ServiceSpec, profile: Profile, root: Path, port: int) -> int | None:
    return stop_by_pidfile(service_paths(root, profile, spec, port).pid, grace=STOP_GRACE_SECONDS)


@contextmanager
def start_service(
    name: str,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    profile: str | Profile = "test",
    *,
    root: Path | None = None,
    timeout: float = HEALTH_TIMEOUT_SECONDS,
    progress: Progress | None = None,
) -> Iterator[str]:
    """Runs one service under uvicorn and yields its base URL; stops it (SIGTERM, then
    SIGKILL) at exit. `port=None` takes the registry port on dev, a free port otherwise.
    `env` is laid over the profile's service environment."""
    spec = get_service(name)
    resolved = profile if isinstance(profile, Profile) else get_profile(profile)
    root = root or find_repo_root()
    if port is None:
        port = spec.port if resolved.name == "dev" else free_port(resolved.host)
    started = launch_service(
        spec, resolved, root, progress or Progress(), port=port, env=env, timeout=timeout
    )
    try:
        yield started.url
    finally:
        if started.started:
            stop_service(spec, resolved, root, port)
            if port != spec.port:
                # Test copies on random ports would otherwise leave a folder per run.
                shutil.rmtree(service_paths(root, resolved, spec, port).base, ignore_errors=True)
