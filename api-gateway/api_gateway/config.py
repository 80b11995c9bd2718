from typing import Literal

from pydantic import Field, field_validator

from chassis import BaseServiceSettings


class Settings(BaseServiceSettings):
    service_name: str = "api-gateway"

    # Upstreams: the registry ports on 127.0.0.1 (the local stack); Compose sets its hosts.
    # Several instances of one service: comma-separated URLs, balanced round-robin, one
    # breaker per instance (Kubernetes needs one: the Service balances).
    product_service_url: str = "http://127.0.0.1:8001"
    order_service_url: str = "http://127.0.0.1:8002"
    inventory_service_url: str = "http://127.0.0.1:8003"
    notification_service_url: str = "http://127.0.0.1:8004"
    ai_service_url: str = "http://127.0.0.1:8005"
    search_service_url: str = "http://127.0.0.1:8006"

    # Per upstream call: connect, and each read/write of the body. A slow upstream answers 504.
    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    upstream_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # The AI service calls an LLM: it gets its own, longer read timeout.
    ai_upstream_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # One pool for the process, shared by every upstream.
    upstream_max_connections: int = Field(default=512, ge=1, le=100_000)
    # Requests with a bigger body are refused with 413 before reaching an upstream.
    max_request_body_bytes: int = Field(default=1_048_576, ge=0, le=1_073_741_824)
    # Consecutive failures (refused, timed out, broken connection) that open an upstream's
    # breaker, and how long it stays open.
    breaker_failure_threshold: int = Field(default=5, ge=1, le=1000)
    breaker_reset_seconds: float = Field(default=5.0, gt=0, le=3600)

    # Identity. false: every request passes unauthenticated (local development switch only).
    auth_enabled: bool = False
    # The provider's issuer; discovery and JWKS are found from it (Keycloak: .../realms/<realm>).
    oidc_issuer_url: str = "http://127.0.0.1:8081/realms/ecommerce"
    # Tokens must name this client in `aud` or `azp`.
    oidc_audience: str = "api-gateway"
    # Comma-separated; asymmetric algorithms only (never none or HS*).
    oidc_algorithms: str = "RS256"
    # How long a fetched JWKS is trusted before it is fetched again.
    jwks_cache_seconds: float = Field(default=300.0, gt=0, le=86_400)
    # An unknown kid refetches the JWKS at most this often (forged kids cannot flood the provider).
    jwks_min_refetch_seconds: float = Field(default=10.0, ge=0, le=3600)
    jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=300)

    # Rate limits per client (token subject, else client IP), shared by replicas through Redis.
    redis_url: str = "redis://127.0.0.1:6379/0"
    rate_limit_enabled: bool = True
    rate_limit_default: str = "60/minute"
    rate_limit_ai: str = "15/minute"
    # moving-window (exact) or fixed-window (cheaper: one counter per window)
    rate_limit_strategy: str = "moving-window"
    rate_limit_key_prefix: str = "gateway-rl"
    # Connect and reply timeout of one rate-limit check. A connect that fails or times out means
    # Redis is down (RATE_LIMIT_ON_REDIS_DOWN decides); a reply slower than this is a 503.
    rate_limit_timeout_seconds: float = Field(default=0.5, gt=0, le=10)
    # Redis is down (refused / unreachable): allow (fail-open, counted) or refuse (503).
    rate_limit_on_redis_down: Literal["allow", "refuse"] = "allow"
    # One bounded pool of Redis connections, reused; at most this many checks in flight.
    rate_limit_redis_max_connections: int = Field(default=32, ge=1, le=10_000)
    # How long a request waits for a free connection in a burst before a 503 (never fail-open).
    rate_limit_queue_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # Larger request headers (all names and values, plus 4 bytes a line) are answered 431.
    max_request_header_bytes: int = Field(default=32_768, ge=1024, le=1_048_576)

    # The web shop (storefront/, api_gateway/storefront.py) served at /. Empty: the checkout's
    # storefront/dist (built by `make dev` / `make test`); the image sets /app/storefront.
    storefront_dir: str = ""
    # The public client the shop signs in with (authorization code + PKCE), and the issuer as a
    # browser reaches it (empty: OIDC_ISSUER_URL, which Compose makes the same everywhere).
    storefront_oidc_client_id: str = "storefront"
    storefront_oidc_issuer_url: str = ""

    @field_validator(
        "product_service_url",
        "order_service_url",
        "inventory_service_url",
        "notification_service_url",
        "ai_service_url",
        "search_service_url",
    )
    @classmethod
    def _instance_urls(cls, value: str) -> str:
        urls = [url.strip() for url in value.split(",") if url.strip()]
        if not urls:
            raise ValueError("needs at least one URL")
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return value

    @property
    def algorithms(self) -> list[str]:
        return [a.strip() for a in self.oidc_algorithms.split(",") if a.strip()]
