"""api-gateway: NOT IMPLEMENTED YET. Answers /health, /ready, /metrics only."""

from api_gateway.config import Settings
from chassis import create_app

settings = Settings()
app = create_app(settings, title="api-gateway (not implemented yet)")
