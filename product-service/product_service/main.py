"""product-service: NOT IMPLEMENTED YET. Answers /health, /ready, /metrics only."""

from chassis import create_app
from product_service.config import Settings

settings = Settings()
app = create_app(settings, title="product-service (not implemented yet)")
