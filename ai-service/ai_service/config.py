from typing import Literal

from pydantic import Field, model_validator

from chassis.settings import ConsumerSettings

Provider = Literal["local", "groq", "openai", "ollama", "gemini"]
RetrievalMode = Literal["hybrid", "lexical"]

# Used when LLM_MODEL / LLM_BASE_URL are not set.
DEFAULT_MODELS: dict[str, str] = {
    "groq": "llama-3.3-70b-versatile",
    "openai": "gpt-4o-mini",
    "ollama": "llama3.2",
    "gemini": "gemini-2.0-flash",
    "local": "bm25",
}
DEFAULT_BASE_URLS: dict[str, str] = {
    "groq": "https://api.groq.com",
    "openai": "https://api.openai.com/v1",
    "ollama": "http://127.0.0.1:11434",
    "gemini": "https://generativelanguage.googleapis.com",
    "local": "",
}


# Providers that cannot answer without a key, and the original design's name for it.
KEYED_PROVIDERS: dict[str, str] = {"groq": "GROQ_API_KEY", "gemini": "GEMINI_API_KEY"}


class Settings(ConsumerSettings):
    service_name: str = "ai-service"

    # `local` (default) needs no network and no key: retrieval over the catalog, templated.
    llm_provider: Provider = "local"
    llm_model: str | None = None
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    # Attempts per LLM call (429, 5xx, timeouts); then the answer degrades to `local`.
    llm_retry_attempts: int = Field(default=3, ge=1, le=10)
    llm_retry_backoff_seconds: float = Field(default=0.5, ge=0, le=30)
    llm_retry_backoff_max_seconds: float = Field(default=4.0, ge=0, le=120)
    llm_breaker_failure_threshold: int = Field(default=5, ge=1, le=1000)
    llm_breaker_reset_seconds: float = Field(default=30.0, gt=0, le=3600)
    llm_temperature: float = Field(default=0.3, ge=0, le=2)
    llm_max_tokens: int = Field(default=800, ge=16, le=8192)

    product_service_url: str = "http://127.0.0.1:8001"
    catalog_page_size: int = Field(default=100, ge=1, le=100)
    # Consecutive failed catalog calls that open the breaker, and how long it stays open.
    product_service_breaker_failure_threshold: int = Field(default=3, ge=1, le=100)
    product_service_breaker_reset_seconds: float = Field(default=10.0, gt=0, le=600)
    # Start-up load retries with exponential backoff up to this pause, for as long as it takes.
    catalog_load_backoff_max_seconds: float = Field(default=30.0, gt=0, le=600)
    # Products sent to the model as context (and shown by `local`).
    retrieval_top_k: int = Field(default=8, ge=1, le=50)
    # `hybrid`: sentence embeddings (all-MiniLM-L6-v2, int8 ONNX, offline) fused with BM25;
    # `lexical`: BM25 alone (no model loaded, ~150 MB less memory, no understanding of intent).
    retrieval_mode: RetrievalMode = "hybrid"
    # score = cosine + weight * BM25 / best BM25 of the query.
    retrieval_lexical_weight: float = Field(default=0.3, ge=0, le=5)
    # A product fits a query when its cosine reaches the threshold; or the lower support and
    # it shares a word with the query or stands out (cosine `distinct` standard deviations
    # above the catalog's mean); or it scores within `margin` of the best fitting product.
    # When nothing fits the answer says so (ai-service/README.md, "Retrieval").
    retrieval_relevance_threshold: float = Field(default=0.3, ge=-1, le=1)
    retrieval_relevance_support: float = Field(default=0.2, ge=-1, le=1)
    retrieval_relevance_distinct: float = Field(default=2.6, ge=0, le=10)
    retrieval_relevance_margin: float = Field(default=0.1, ge=0, le=2)
    # Products embedded per worker-thread call, and the threads onnxruntime uses per call.
    embedding_batch_size: int = Field(default=32, ge=1, le=512)
    embedding_threads: int = Field(default=1, ge=1, le=16)
    # Vectors cached in Redis (by model and text) so a restart does not re-embed the catalog.
    embedding_cache_ttl_seconds: int = Field(default=30 * 86_400, ge=60)
    # Recommendations: at most this many items, of which up to `bought_together` from orders.
    recommendations_limit: int = Field(default=5, ge=1, le=20)
    recommendations_bought_together: int = Field(default=3, ge=0, le=20)

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    redis_key_prefix: str = "ai"
    processed_event_ttl_seconds: int = Field(default=7 * 86_400, ge=60)

    run_catalog_loader: bool = True
    topic_order_placed: str = "order-placed"
    topic_product_updated: str = "product-updated"
    topic_ai_notification_ready: str = "ai-notification-ready"

    @model_validator(mode="after")
    def _provider_can_be_used(self) -> "Settings":
        """A provider asked for but not usable is a start-up error, never a quiet fallback
        to `local` (the answers would silently change)."""
        if self.llm_provider in KEYED_PROVIDERS and not self.llm_api_key:
            original = KEYED_PROVIDERS[self.llm_provider]
            raise ValueError(
                f"LLM_PROVIDER={self.llm_provider} needs an API key: set LLM_API_KEY "
                f"(or {original}); LLM_PROVIDER=local answers without one"
            )
        return self

    @property
    def model_name(self) -> str:
        return self.llm_model or DEFAULT_MODELS[self.llm_provider]

    @property
    def base_url(self) -> str:
        return (self.llm_base_url or DEFAULT_BASE_URLS[self.llm_provider]).rstrip("/")
