"""Ports and names per profile. `dev` honours the env vars the services read, so one
`.env` configures both the services and the stack that serves them."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

HOST = "127.0.0.1"


class UnknownProfile(ValueError):
    pass


@dataclass(frozen=True)
class Profile:
    name: str
    postgres_port: int
    redis_port: int
    kafka_port: int
    elasticsearch_port: int
    mongodb_port: int
    # The SMTP sink (devstack.smtp_sink) that stands in for a mail relay.
    smtp_port: int = 1025
    # The local OIDC provider (devstack/oidc): Keycloak's paths under /realms/<realm>.
    oidc_port: int = 8081
    oidc_realm: str = "ecommerce"
    # Tests share the developer's Redis, so each profile keeps to its own db number.
    redis_db: int = 0
    postgres_user: str = "postgres"
    postgres_password: str | None = None
    host: str = HOST

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def elasticsearch_url(self) -> str:
        return f"http://{self.host}:{self.elasticsearch_port}"

    @property
    def mongodb_url(self) -> str:
        return f"mongodb://{self.host}:{self.mongodb_port}/?directConnection=true"

    @property
    def oidc_url(self) -> str:
        return f"http://{self.host}:{self.oidc_port}"

    @property
    def oidc_issuer(self) -> str:
        """The `iss` of its tokens, as Keycloak spells it: <base>/realms/<realm>."""
        return f"{self.oidc_url}/realms/{self.oidc_realm}"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.redis_port}/{self.redis_db}"

    def postgres_url(self, database: str) -> str:
        """SQLAlchemy asyncpg URL, the form the services' DATABASE_URL takes."""
        auth = self.postgres_user
        if self.postgres_password:
            auth += f":{self.postgres_password}"
        return f"postgresql+asyncpg://{auth}@{self.host}:{self.postgres_port}/{database}"

    def port_of(self, component: str) -> int:
        return int(getattr(self, f"{component}_port"))


PROFILES: dict[str, Profile] = {
    "dev": Profile(
        name="dev",
        postgres_port=5432,
        redis_port=6379,
        kafka_port=9092,
        elasticsearch_port=9200,
        mongodb_port=27017,
        redis_db=0,
        oidc_port=8081,
    ),
    # PostgreSQL and Redis are shared with dev (tests isolate by database / db number);
    # the stand-ins get their own ports so tests never collide with a running `make dev`.
    "test": Profile(
        name="test",
        postgres_port=5432,
        redis_port=6379,
        kafka_port=19092,
        elasticsearch_port=19200,
        mongodb_port=37017,
        smtp_port=11025,
        redis_db=15,
        oidc_port=18081,
    ),
    # Own ports and data so a benchmark that kills the broker cannot disturb a test run.
    "bench": Profile(
        name="bench",
        postgres_port=5432,
        redis_port=6379,
        kafka_port=29092,
        elasticsearch_port=29200,
        mongodb_port=47017,
        smtp_port=21025,
        redis_db=14,
        oidc_port=28081,
    ),
}


def _port(url: str) -> int | None:
    # KAFKA_BOOTSTRAP_SERVERS has no scheme; give it one so urlsplit finds the port.
    parsed = urlsplit(url if "://" in url else f"kafka://{url.split(',')[0]}")
    return parsed.port


def dev_overrides(base: Profile, environ: Mapping[str, str]) -> Profile:
    changes: dict[str, object] = {}
    if url := environ.get("DATABASE_URL"):
        parsed = urlsplit(url)
        if parsed.port:
            changes["postgres_port"] = parsed.port
        if parsed.username:
            changes["postgres_user"] = parsed.username
        if parsed.password:
            changes["postgres_password"] = parsed.password
    if (smtp_port := environ.get("SMTP_PORT", "")).isdigit():
        changes["smtp_port"] = int(smtp_port)
    if url := environ.get("REDIS_URL"):
        parsed = urlsplit(url)
        if parsed.port:
            changes["redis_port"] = parsed.port
        if parsed.path.strip("/").isdigit():
            changes["redis_db"] = int(parsed.path.strip("/"))
    for variable, field in (
        ("KAFKA_BOOTSTRAP_SERVERS", "kafka_port"),
        ("ELASTICSEARCH_URL", "elasticsearch_port"),
        ("MONGODB_URL", "mongodb_port"),
    ):
        if (url := environ.get(variable)) and (port := _port(url)):
            changes[field] = port
    return replace(base, **changes)  # type: ignore[arg-type]


# Two checkouts on one machine (CI runners, worktrees) each run the test or bench stack on
# their own stand-in ports when one sets this: every stand-in port moves up by the offset.
PORT_OFFSET_VARIABLE = "DEVSTACK_PORT_OFFSET"
SHIFTED_PORTS = ("kafka_port", "elasticsearch_port", "mongodb_port", "smtp_port", "oidc_port")


def port_offset(environ: Mapping[str, str]) -> int:
    raw = environ.get(PORT_OFFSET_VARIABLE, "").strip() or "0"
    if not raw.isdigit() or int(raw) > 20_000:
        raise ValueError(
            f"{PORT_OFFSET_VARIABLE} must be a whole number from 0 to 20000, not {raw!r}"
        )
    return int(raw)


def get_profile(name: str, environ: Mapping[str, str] | None = None) -> Profile:
    if name not in PROFILES:
        raise UnknownProfile(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    env = os.environ if environ is None else environ
    if name == "dev":
        return dev_overrides(PROFILES["dev"], env)
    profile = PROFILES[name]
    offset = port_offset(env)
    if offset:
        profile = replace(profile, **{f: getattr(profile, f) + offset for f in SHIFTED_PORTS})
    return profile
