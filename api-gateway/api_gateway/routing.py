"""Which upstream serves a public path: `/api/<segment>/**` -> one service."""

from dataclasses import dataclass

from api_gateway.config import Settings

# path segment after /api/ -> (service name, settings attribute with its base URL)
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
    base_url: str
    # the public segment it serves: "products" for /api/products/**
    segment: str


def upstreams(settings: Settings) -> dict[str, Upstream]:
    """By segment."""
    return {
        segment: Upstream(name, str(getattr(settings, attribute)).rstrip("/"), segment)
        for segment, (name, attribute) in ROUTES.items()
    }


def segment_of(path: str) -> str | None:
    """`/api/orders/42` -> "orders"; None for a path outside /api/<known segment>."""
    if not path.startswith("/api/"):
        return None
    segment = path[5:].split("/", 1)[0]
    return segment if segment in ROUTES else None
