"""notification-service: NOT IMPLEMENTED YET. Answers /health, /ready, /metrics only."""

from chassis import create_app
from notification_service.config import Settings

settings = Settings()
app = create_app(settings, title="notification-service (not implemented yet)")
