from pydantic import Field, model_validator

from chassis.settings import ConsumerSettings


class Settings(ConsumerSettings):
    service_name: str = "notification-service"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Every Redis call is bounded; a Redis outage pauses the consumer, it never sends blind.
    redis_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # Keys live under this prefix (tests give each run its own).
    redis_key_prefix: str = "notification"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    # STARTTLS after connecting (port 587); SMTP_USE_TLS is implicit TLS (port 465).
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    mail_from: str = "E-Commerce Shop <no-reply@shop.local>"
    # false: log each email instead of sending it (no SMTP server needed).
    email_enabled: bool = True
    admin_email: str = "admin@shop.local"

    # A claimed-but-not-sent event may be taken over by a redelivery after this long. It must
    # outlast one SMTP send, or a slow send and a redelivery could both send.
    delivery_lease_seconds: float = Field(default=60.0, gt=0, le=3600)
    # How long a "sent" mark is kept (redeliveries later than this would send again).
    sent_ttl_seconds: int = Field(default=7 * 86_400, ge=60)
    # The recent-notification log behind GET /api/notifications keeps this many entries.
    notification_log_size: int = Field(default=1000, ge=1, le=100_000)

    topic_order_placed: str = "order-placed"
    topic_order_cancelled: str = "order-cancelled"
    topic_inventory_low: str = "inventory-low"
    topic_ai_notification_ready: str = "ai-notification-ready"

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> "Settings":
        if self.delivery_lease_seconds <= self.smtp_timeout_seconds:
            raise ValueError("DELIVERY_LEASE_SECONDS must be longer than SMTP_TIMEOUT_SECONDS")
        return self
