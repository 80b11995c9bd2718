from pydantic import Field

from chassis import BaseServiceSettings


class Settings(BaseServiceSettings):
    service_name: str = "product-service"
    mongodb_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongodb_db: str = "product_db"
    # How long a query waits for a reachable MongoDB before the request answers 503.
    mongodb_timeout_ms: int = Field(default=5000, ge=100)
    # nx-27017 (the local stack's MongoDB) has no isolation between concurrent transactions:
    # run this process's transactions one at a time. Compose (real MongoDB) sets false.
    mongodb_serialize_transactions: bool = True
    topic_product_updated: str = "product-updated"
    # Background relay that publishes the outbox; tests switch it off to drive it by hand.
    run_outbox_relay: bool = True
    # A local commit wakes the relay at once (notify); the poll only finds what another process
    # left behind, so it can be slow: an idle relay polling 5 times a second cost 0.8 % of a core,
    # once a second ~0.5 %; every 5 s it is a safety net, not a wake-up source.
    outbox_poll_interval_seconds: float = Field(default=5.0, gt=0)
    outbox_lease_seconds: float = Field(default=30.0, gt=0)
    outbox_publish_timeout_seconds: float = Field(default=10.0, gt=0)
    # Only `python -m product_service.seed` calls it (creates inventory rows for demo products).
    inventory_service_url: str = "http://127.0.0.1:8003"
