from pydantic import Field

from chassis.settings import ConsumerSettings


class Settings(ConsumerSettings):
    service_name: str = "search-service"
    elasticsearch_url: str = "http://127.0.0.1:9200"
    # Every Elasticsearch call is bounded by this; a search past it answers 503.
    elasticsearch_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    elasticsearch_max_retries: int = Field(default=1, ge=0, le=5)
    # Clients search this alias; the concrete index behind it is `<alias>-<timestamp>`.
    search_index_alias: str = Field(default="products", pattern=r"^[a-z0-9][a-z0-9_.-]{0,80}$")
    search_index_shards: int = Field(default=1, ge=1, le=64)
    search_index_replicas: int = Field(default=0, ge=0, le=8)
    search_refresh_interval: str = "1s"
    # Kafka consumer of product-updated.
    topic_product_updated: str = "product-updated"
    # Full reindex reads every product from product-service, page by page.
    product_service_url: str = "http://127.0.0.1:8001"
    product_service_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    reindex_page_size: int = Field(default=100, ge=1, le=100)
    reindex_page_attempts: int = Field(default=4, ge=1, le=10)
    # A pass is repeated when the catalog's size changed under it (offset paging can skip).
    reindex_max_passes: int = Field(default=3, ge=1, le=10)
    # How often the consumer re-reads whether a rebuild runs (any replica may start one); a
    # rebuild waits this long before its first read so no replica writes only to the old index.
    rebuild_check_interval_seconds: float = Field(default=1.0, ge=0, le=60)
    # A rebuild marker older than this belongs to a crashed rebuild and is cleared.
    reindex_stale_after_seconds: float = Field(default=3600, gt=0)
