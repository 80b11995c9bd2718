from pydantic import Field

from chassis.postgres import PostgresServiceSettings


class Settings(PostgresServiceSettings):
    service_name: str = "order-service"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/order_db"

    inventory_service_url: str = "http://127.0.0.1:8003"
    # Per attempt, for connect, read, write and waiting on the pool alike.
    inventory_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    # Attempts per idempotent call (reserve, confirm, release); 1 disables retries.
    inventory_retry_attempts: int = Field(default=3, ge=1, le=10)
    inventory_retry_backoff_seconds: float = Field(default=0.05, ge=0, le=10)
    inventory_retry_backoff_max_seconds: float = Field(default=0.5, ge=0, le=30)
    inventory_max_connections: int = Field(default=100, ge=1, le=10_000)
    # Consecutive failed calls that open the breaker, and how long it stays open.
    inventory_breaker_failure_threshold: int = Field(default=5, ge=1, le=1000)
    inventory_breaker_reset_seconds: float = Field(default=5.0, gt=0, le=3600)
    # How long inventory holds the stock of an order not yet confirmed (crash backstop).
    order_reservation_ttl_seconds: int = Field(default=600, ge=5, le=86_400)
    max_items_per_order: int = Field(default=100, ge=1, le=100)

    topic_order_placed: str = "order-placed"
    topic_order_cancelled: str = "order-cancelled"
    topic_order_status_changed: str = "order-status-changed"
