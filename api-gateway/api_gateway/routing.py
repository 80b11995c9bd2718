"""Which upstream serves a public path: `/api/<segment>/**` -> one service, served by one or
more instances (a comma-separated `<SERVICE>_URL`: several replicas without a load balancer
in front, as on the local stack; on Kubernetes one Service address)."""

import itertools
from dataclasses import dataclass, field

from api_gateway.config import Settings

# path segment after /api/ -> (service name, settings attribute with its base URL(s))
ROUTES: dict[str, tuple[str, str]] = {
    "products": ("product-service", "product_service_url"),
    "orders": ("order-service", "order_service_url"),
    "inventory": ("inventory-service", "inventory_service_url"),
    "ai": ("ai-service", "ai_service_url"),
    "search": ("search-service", "search_service_url"),
    "notifications": ("notification-service", "notification_service_url"),
}


@dataclass(frozen=True)
class Upstream:
    name: str
    # base URLs of its instances, in the order configured
    instances: tuple[str, ...]
    # the public segment it serves: "products" for /api/products/**
    segment: str
    _turns: "itertools.count[int]" = field(
        default_factory=itertools.count, compare=False, repr=False
    )

    def rotation(self) -> list[str]:
        """Every instance once, starting with the next one in round-robin turn."""
        start = next(self._turns) % len(self.instances)
        return [*self.instances[start:], *self.instances[:start]]


def instance_urls(value: str) -> tuple[str, ...]:
    """`http://a:8002, http://b:8002/` -> ("http://a:8002", "http://b:8002")."""
    urls = tuple(url.strip().rstrip("/") for url in value.split(",") if url.strip())
    if not urls:
        raise ValueError("an upstream needs at least one URL")
    return urls


def upstreams(settings: Settings) -> dict[str, Upstream]:
    """By segment."""
    return {
        segment: Upstream(name, instance_urls(str(getattr(settings, attribute))), segment)
        for segment, (name, attribute) in ROUTES.items()
    }


def segment_of(path: str) -> str | None:
    """`/api/orders/42` -> "orders"; None for a path outside /api/<known segment>."""
    if not path.startswith("/api/"):
        return None
    segment = path[5:].split("/", 1)[0]
    return segment if segment in ROUTES else None
