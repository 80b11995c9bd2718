"""order-service: NOT IMPLEMENTED YET. It answers /health, /ready and /metrics only (see README.md)."""

from chassis import create_app

from order_service.config import Settings

settings = Settings()
app = create_app(settings, title="order-service (not implemented yet)")
