"""Session fixtures for tests that need real servers (test profile ports). Loaded through
the pytest11 entry point; nothing starts until a test asks for a fixture. A server that
already answers on the test port is reused (so `make test` may start them once); one
that cannot be started fails the test with its log tail, never skips it."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.asyncbridge import run_sync
from devstack.errors import StackError
from devstack.paths import find_repo_root
from devstack.profiles import Profile, get_profile
from devstack.progress import Progress
from devstack.provisioning import create_databases, create_topics, drop_databases
from devstack.smtp_sink import StoredMail, read_mailbox
from devstack.stack import Stack
from devstack.topics import TOPICS

TEST_PROFILE = "test"


class SessionStack:
    """Starts components on first use and stops, at session end, only what it started."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._stack: Stack | None = None
        self._started: list[str] = []
        self._ready: set[str] = set()

    @property
    def stack(self) -> Stack:
        if self._stack is None:
            self._stack = Stack(self.profile, find_repo_root(), Progress())
        return self._stack

    def ensure(self, component: str) -> None:
        if component in self._ready:
            return
        try:
            self.stack.ensure({component}, self._started)
            if component == "kafka":
                run_sync(create_topics(self.profile.kafka_bootstrap, TOPICS))
        except StackError as exc:
            pytest.fail(
                f"devstack could not start {component} (profile {self.profile.name}):\n"
                f"{exc.render()}",
                pytrace=False,
            )
        except Exception as exc:
            pytest.fail(
                f"devstack could not prepare {component}: {type(exc).__name__}: {exc}",
                pytrace=False,
            )
        self._ready.add(component)

    def close(self) -> None:
        if self._stack is None:
            return
        for process in reversed(self._started):
            self._stack.stop_process(process)
        self._started.clear()


class LocalPostgres:
    """Hands out a fresh database per call and drops them all at session end."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.created: list[str] = []

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database named `<prefix>_<random>`; returns its SQLAlchemy asyncpg URL."""
        name = f"{prefix.lower().replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        try:
            run_sync(create_databases(self.profile, [name]))
        except Exception as exc:
            pytest.fail(f"devstack could not create database {name}: {exc}", pytrace=False)
        self.created.append(name)
        return self.profile.postgres_url(name)

    def drop_created(self) -> None:
        if self.created:
            run_sync(drop_databases(self.profile, self.created))
            self.created.clear()


@pytest.fixture(scope="session")
def devstack_session() -> Iterator[SessionStack]:
    session = SessionStack(get_profile(TEST_PROFILE))
    yield session
    session.close()


@pytest.fixture(scope="session")
def local_postgres(devstack_session: SessionStack) -> Iterator[LocalPostgres]:
    """PostgreSQL on the test port; `.create_database(prefix)` returns a fresh database URL."""
    devstack_session.ensure("postgres")
    postgres = LocalPostgres(devstack_session.profile)
    yield postgres
    postgres.drop_created()


@pytest.fixture(scope="session")
def local_redis(devstack_session: SessionStack) -> str:
    """Redis URL on the test port, db 15."""
    devstack_session.ensure("redis")
    return devstack_session.profile.redis_url


@pytest.fixture(scope="session")
def local_kafka(devstack_session: SessionStack) -> str:
    """Kafka bootstrap servers (noida-db), fleet topics created."""
    devstack_session.ensure("kafka")
    return devstack_session.profile.kafka_bootstrap


@pytest.fixture(scope="session")
def local_elasticsearch(devstack_session: SessionStack) -> str:
    """Elasticsearch base URL (noida-db)."""
    devstack_session.ensure("elasticsearch")
    return devstack_session.profile.elasticsearch_url


@pytest.fixture(scope="session")
def local_mongo(devstack_session: SessionStack) -> str:
    """MongoDB URL (nx-27017) with directConnection=true."""
    devstack_session.ensure("mongodb")
    return devstack_session.profile.mongodb_url


@pytest.fixture(scope="session")
def local_oidc(devstack_session: SessionStack) -> str:
    """Issuer URL of the local OIDC provider (Keycloak paths, realm `ecommerce`)."""
    devstack_session.ensure("oidc")
    return devstack_session.profile.oidc_issuer


class LocalSmtp:
    """The SMTP sink: where to send (`host`, `port`) and what it received (`messages()`)."""

    def __init__(self, host: str, port: int, folder: Path) -> None:
        self.host = host
        self.port = port
        self.folder = folder

    def messages(self, to: str | None = None) -> list[StoredMail]:
        """Every stored message, oldest first; `to` keeps those with that envelope recipient."""
        mails = read_mailbox(self.folder)
        if to is None:
            return mails
        return [m for m in mails if to.lower() in (r.lower() for r in m.rcpt_to)]


@pytest.fixture(scope="session")
def local_smtp(devstack_session: SessionStack) -> LocalSmtp:
    """The SMTP sink (aiosmtpd) on the test port; every accepted message is an .eml file."""
    devstack_session.ensure("smtp")
    profile = devstack_session.profile
    return LocalSmtp(profile.host, profile.smtp_port, devstack_session.stack.mail_folder())
