from fastapi.testclient import TestClient

from api_gateway.config import Settings
from api_gateway.main import build_app


def test_health_answers_up_with_service_name() -> None:
    app = build_app(Settings(rate_limit_enabled=False))
    with TestClient(app) as client:
        reply = client.get("/health")
    assert reply.status_code == 200
    assert reply.json()["status"] == "UP"
    assert reply.json()["service"] == "api-gateway"
    assert reply.json()["auth_enabled"] is False  # as the original design reported it


def test_every_public_prefix_is_routed() -> None:
    app = build_app(Settings(rate_limit_enabled=False))
    paths = {route.path for route in app.routes}  # type: ignore[attr-defined]
    assert "/api/{path:path}" in paths
