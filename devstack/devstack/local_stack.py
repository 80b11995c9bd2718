"""`local_stack()`: the stack as a context manager for tests and benchmarks."""

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from devstack.asyncbridge import run_sync
from devstack.errors import StackError
from devstack.paths import find_repo_root
from devstack.profiles import Profile, get_profile
from devstack.progress import Progress
from devstack.provisioning import create_databases, create_topics
from devstack.stack import COMPONENTS, DEFAULT_TIMEOUT_SECONDS, PROCESS_OF, Stack
from devstack.topics import TOPICS


class ComponentHandle:
    """Stop / start / restart one component's process, e.g. to take the broker away in a
    benchmark. Kafka and Elasticsearch share one process: stopping one stops both."""

    def __init__(self, endpoints: "Endpoints", component: str) -> None:
        self._endpoints = endpoints
        self.component = component

    @property
    def process(self) -> str:
        return PROCESS_OF[self.component]

    @property
    def pid(self) -> int | None:
        return self._endpoints.stack.component_pid(self.component)

    def is_running(self) -> bool:
        return self._endpoints.stack.answers(self.component)

    def stop(self) -> int:
        stack = self._endpoints.stack
        pid = stack.stop_process(self.process)
        if pid is None:
            raise StackError(
                self.component,
                "not started by devstack (no PID file) on profile "
                f"{stack.profile.name}; a reused server is never stopped",
            )
        return pid

    def start(self) -> int:
        stack = self._endpoints.stack
        pid = stack.pid(self.process)
        if pid is not None and self.is_running():
            return pid
        return stack.start_process(self.process)

    def restart(self) -> int:
        self.stop()
        return self.start()


class Endpoints:
    """Addresses of a running stack plus helpers to create what a test needs."""

    def __init__(self, stack: Stack, components: set[str]) -> None:
        self.stack = stack
        self.components = components

    @property
    def profile(self) -> Profile:
        return self.stack.profile

    @property
    def kafka_bootstrap(self) -> str:
        return self.profile.kafka_bootstrap

    @property
    def elasticsearch_url(self) -> str:
        return self.profile.elasticsearch_url

    @property
    def mongodb_url(self) -> str:
        return self.profile.mongodb_url

    @property
    def redis_url(self) -> str:
        return self.profile.redis_url

    def postgres_url(self, database: str) -> str:
        """Creates `database` if missing; returns its SQLAlchemy asyncpg URL."""
        run_sync(create_databases(self.profile, [database]))
        return self.profile.postgres_url(database)

    def create_topics(self, topics: Mapping[str, int]) -> dict[str, int]:
        """Idempotent; returns the partition count of each topic."""
        return run_sync(create_topics(self.kafka_bootstrap, topics))

    def component(self, name: str) -> ComponentHandle:
        if name not in COMPONENTS:
            raise StackError(name, f"unknown component; choose from {', '.join(COMPONENTS)}")
        return ComponentHandle(self, name)

    def stop_component(self, name: str) -> int:
        return self.component(name).stop()

    def start_component(self, name: str) -> int:
        return self.component(name).start()

    def restart_component(self, name: str) -> int:
        return self.component(name).restart()


@contextmanager
def local_stack(
    components: Iterable[str] = COMPONENTS,
    profile: str | Profile = "test",
    *,
    root: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    progress: Progress | None = None,
    create_fleet_topics: bool = True,
) -> Iterator[Endpoints]:
    """Starts the components that do not answer yet and yields their addresses; at exit
    stops only the processes it started (a server that was already up stays up, even if
    it was stopped and restarted inside the block)."""
    resolved = profile if isinstance(profile, Profile) else get_profile(profile)
    stack = Stack(resolved, root or find_repo_root(), progress, timeout)
    wanted = set(components)
    started: list[str] = []
    try:
        stack.ensure(wanted, started)
        if create_fleet_topics and "kafka" in wanted:
            run_sync(create_topics(resolved.kafka_bootstrap, TOPICS))
        yield Endpoints(stack, wanted)
    finally:
        for process in reversed(started):
            stack.stop_process(process)
