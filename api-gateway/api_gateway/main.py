"""api-gateway: NOT IMPLEMENTED YET. It answers /health, /ready and /metrics only (see README.md)."""

from chassis import create_app

from api_gateway.config import Settings

settings = Settings()
app = create_app(settings, title="api-gateway (not implemented yet)")
