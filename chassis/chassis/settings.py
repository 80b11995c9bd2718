"""Settings base every service extends.

Environment variables only; every default points at the local stack.

The original design's variable names (``POSTGRES_HOST``, ``REDIS_PORT``, ``GROQ_API_KEY``,
``KAFKA_ORDER_PLACED_TOPIC``, ...) keep working as aliases of ours: ``LEGACY_ALIASES`` below
maps each to the setting it feeds, a service picks up those whose setting it has, and every
old name used is logged as a warning at start-up (``legacy_warnings``, logged by
``create_app``). When both the old and the new name are set, the new one wins.
"""

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Env = Mapping[str, str]


@dataclass(frozen=True)
class Legacy:
    """Original variable names that feed one of our settings."""

    field: str
    names: tuple[str, ...]
    # (the old names that are set, the setting's default, the other settings given) -> value;
    # None means "the one name's value, as it is".
    build: Callable[[Env, Any, Mapping[str, Any]], Any] | None = None
    # Only when this setting has this value (e.g. GROQ_API_KEY only for LLM_PROVIDER=groq).
    when: tuple[str, str] | None = None


def with_url_parts(
    url: str,
    *,
    host: str | None = None,
    port: str | None = None,
    user: str | None = None,
    password: str | None = None,
    path: str | None = None,
) -> str:
    """``url`` with the parts given replaced (the rest kept): POSTGRES_HOST=db on our default
    ``postgresql+asyncpg://postgres@127.0.0.1:5432/order_db`` gives ``...@db:5432/order_db``."""
    parts = urlsplit(url)
    old_user, old_password = parts.username, parts.password
    old_host, old_port = parts.hostname or "", parts.port
    user = user if user is not None else old_user
    password = password if password is not None else old_password
    netloc = ""
    if user:
        netloc = quote(user, safe="")
        if password:
            netloc += ":" + quote(password, safe="")
        netloc += "@"
    netloc += host if host is not None else old_host
    final_port = port if port is not None else (str(old_port) if old_port else None)
    if final_port:
        netloc += f":{final_port}"
    new_path = f"/{path.lstrip('/')}" if path is not None else parts.path
    return urlunsplit((parts.scheme, netloc, new_path, parts.query, parts.fragment))


def _url(names: Mapping[str, str]) -> Callable[[Env, Any, Mapping[str, Any]], Any]:
    """A builder putting old names into a URL's parts: {"POSTGRES_HOST": "host", ...}."""

    def build(found: Env, default: Any, given: Mapping[str, Any]) -> str:
        parts = {names[name]: value for name, value in found.items()}
        return with_url_parts(str(default), **parts)

    return build


def _llm_key_for(provider: str, name: str) -> Legacy:
    return Legacy("llm_api_key", (name,), when=("llm_provider", provider))


LEGACY_ALIASES: tuple[Legacy, ...] = (
    Legacy(
        "database_url",
        ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"),
        _url(
            {
                "POSTGRES_HOST": "host",
                "POSTGRES_PORT": "port",
                "POSTGRES_USER": "user",
                "POSTGRES_PASSWORD": "password",
                "POSTGRES_DB": "path",
            }
        ),
    ),
    Legacy(
        "mongodb_url",
        ("MONGO_HOST", "MONGO_PORT"),
        _url({"MONGO_HOST": "host", "MONGO_PORT": "port"}),
    ),
    Legacy("mongodb_db", ("DB_NAME",)),
    Legacy(
        "redis_url",
        ("REDIS_HOST", "REDIS_PORT"),
        _url({"REDIS_HOST": "host", "REDIS_PORT": "port"}),
    ),
    _llm_key_for("groq", "GROQ_API_KEY"),
    _llm_key_for("gemini", "GEMINI_API_KEY"),
    _llm_key_for("openai", "OPENAI_API_KEY"),
    Legacy("llm_base_url", ("OLLAMA_BASE_URL",), when=("llm_provider", "ollama")),
    Legacy("llm_base_url", ("OLLAMA_HOST",), when=("llm_provider", "ollama")),
    Legacy("llm_model", ("OLLAMA_MODEL",), when=("llm_provider", "ollama")),
    Legacy(
        "oidc_issuer_url",
        ("KEYCLOAK_URL", "KEYCLOAK_REALM"),
        lambda found, default, given: _issuer(found, str(default)),
    ),
    Legacy("oidc_audience", ("KEYCLOAK_CLIENT_ID",)),
    Legacy(
        "mail_from",
        ("SMTP_FROM_EMAIL", "SMTP_FROM_NAME"),
        lambda found, default, given: _mail_from(found, str(default)),
    ),
    Legacy("consumer_group", ("KAFKA_GROUP_ID",)),
)
# KAFKA_<NAME>_TOPIC feeds topic_<name> (KAFKA_ORDER_PLACED_TOPIC -> TOPIC_ORDER_PLACED).
KAFKA_TOPIC_NAME = re.compile(r"^KAFKA_([A-Z0-9_]+)_TOPIC$")


def _issuer(found: Env, default: str) -> str:
    """KEYCLOAK_URL + KEYCLOAK_REALM -> the issuer URL (either may keep our default)."""
    base, _, realm = default.partition("/realms/")
    base = found.get("KEYCLOAK_URL", base).rstrip("/")
    realm = found.get("KEYCLOAK_REALM", realm)
    return f"{base}/realms/{realm}"


def _mail_from(found: Env, default: str) -> str:
    match = re.fullmatch(r"\s*(.*?)\s*<([^>]*)>\s*", default)
    name, address = (match.group(1), match.group(2)) if match else ("", default)
    name = found.get("SMTP_FROM_NAME", name)
    address = found.get("SMTP_FROM_EMAIL", address)
    return f"{name} <{address}>" if name else address


def _environment() -> dict[str, str]:
    return dict(os.environ)


class BaseServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Names a service may add to the shared LEGACY_ALIASES.
    legacy_aliases: ClassVar[tuple[Legacy, ...]] = ()

    service_name: str = "service"
    log_level: str = "INFO"
    # JSON logs for machines (default); "console" gives a readable local format.
    log_format: str = "json"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Pause between empty consumer polls. The local stack's broker answers empty fetches at
    # once (no long poll), which would make every idle consumer spin; 0 on a real Kafka.
    kafka_consumer_idle_pause_ms: int = 100
    # Static consumer-group membership (Kafka's group.instance.id): unique per replica, stable
    # across its restarts, so a replica killed with SIGKILL gets its partitions straight back.
    # Empty: the host name (a pod's or container's name); devstack sets <service>-<port>.
    kafka_group_instance_id: str = ""
    # Traces go over OTLP/HTTP to this collector (e.g. http://tempo:4318) when set.
    otel_exporter_otlp_endpoint: str | None = None
    # Every outbound call has a timeout; this is the default for calls a service makes.
    http_timeout_seconds: float = 5.0

    @property
    def consumer_instance_id(self) -> str:
        """This replica's stable identity in its consumer groups (and claim ledgers)."""
        return self.kafka_group_instance_id.strip() or socket.gethostname()

    _legacy_warnings: list[str] = PrivateAttr(default_factory=list)

    @property
    def legacy_warnings(self) -> list[str]:
        """One sentence per original variable name this process read (or ignored)."""
        return list(self._legacy_warnings)

    @model_validator(mode="wrap")
    @classmethod
    def _original_names(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        if not isinstance(data, dict):
            return handler(data)
        data, warnings = apply_legacy_aliases(cls, dict(data), _environment())
        settings = handler(data)
        settings._legacy_warnings = warnings
        return settings


class ConsumerSettings(BaseServiceSettings):
    """What a service with Kafka consumers adds (`EventConsumer.from_settings` reads it)."""

    # false: the service answers HTTP but consumes nothing (a replica kept for reads).
    run_event_consumer: bool = True
    # The consumer group; empty means the service's name.
    consumer_group: str = ""
    # Attempts per event before it goes to the dead-letter topic (transient errors pause
    # instead and never count).
    consumer_max_attempts: int = Field(default=5, ge=1, le=20)

    @model_validator(mode="after")
    def _group_defaults_to_the_service(self) -> "ConsumerSettings":
        if not self.consumer_group.strip():
            self.consumer_group = self.service_name
        return self


def _given(data: Mapping[str, Any], field: str) -> bool:
    return field in data or field.upper() in data


def apply_legacy_aliases(
    cls: type[BaseServiceSettings], data: dict[str, Any], environ: Env
) -> tuple[dict[str, Any], list[str]]:
    """``data`` (the values pydantic-settings gathered) completed from the original names
    found in ``environ``, and a warning per original name used or ignored."""
    fields = cls.model_fields
    warnings: list[str] = []
    aliases = [*LEGACY_ALIASES, *cls.legacy_aliases]
    for name in environ:
        match = KAFKA_TOPIC_NAME.match(name)
        if match:
            aliases.append(Legacy(f"topic_{match.group(1).lower()}", (name,)))
    for alias in aliases:
        if alias.field not in fields:
            continue
        found = {name: environ[name] for name in alias.names if name in environ}
        if not found:
            continue
        if alias.when is not None:
            setting, wanted = alias.when
            current = data.get(
                setting,
                data.get(setting.upper(), fields[setting].default if setting in fields else None),
            )
            if str(current).lower() != wanted:
                continue
        new_name = alias.field.upper()
        old_names = ", ".join(sorted(found))
        if _given(data, alias.field):
            warnings.append(
                f"{old_names} ignored: {new_name} is set and wins "
                f"(the original variable names are deprecated aliases)"
            )
            continue
        if alias.build is None:
            data[alias.field] = next(iter(found.values()))
        else:
            data[alias.field] = alias.build(found, fields[alias.field].default, data)
        warnings.append(
            f"{old_names} read as {new_name}: the original variable name is a "
            f"deprecated alias, use {new_name}"
        )
    return data, warnings
