"""Settings base every service extends.

Environment variables only; every default points at the local stack."""

import socket

from pydantic_settings import BaseSettings, SettingsConfigDict


class BaseServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

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
