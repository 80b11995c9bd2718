"""search-service: NOT IMPLEMENTED YET. Answers /health, /ready, /metrics only."""

from chassis import create_app
from search_service.config import Settings

settings = Settings()
app = create_app(settings, title="search-service (not implemented yet)")
