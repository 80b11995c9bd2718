"""ai-service: NOT IMPLEMENTED YET. Answers /health, /ready, /metrics only."""

from ai_service.config import Settings
from chassis import create_app

settings = Settings()
app = create_app(settings, title="ai-service (not implemented yet)")
