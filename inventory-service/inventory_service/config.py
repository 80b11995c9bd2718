from pydantic import Field

from chassis.postgres import PostgresServiceSettings
from chassis.settings import ConsumerSettings


class Settings(PostgresServiceSettings, ConsumerSettings):
    service_name: str = "inventory-service"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/inventory_db"
    # Default level under which an item raises inventory-low (per item override on the row).
    low_stock_threshold: int = Field(default=10, ge=0)
    reservation_ttl_seconds: int = Field(default=900, ge=1, le=86_400)
    reservation_sweep_interval_seconds: float = Field(default=2.0, gt=0)
    # The order-event consumer; tests switch it off to drive it by hand.
    topic_order_placed: str = "order-placed"
    topic_order_cancelled: str = "order-cancelled"
    topic_order_status_changed: str = "order-status-changed"
    topic_inventory_low: str = "inventory-low"
    # A product deleted in the catalog retires its stock row (README, "Deleted products").
    topic_product_updated: str = "product-updated"
