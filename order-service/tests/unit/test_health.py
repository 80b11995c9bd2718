from fastapi.testclient import TestClient

from order_service.main import app


def test_health_answers_up_with_service_name() -> None:
    with TestClient(app) as client:
        reply = client.get("/health")
    assert reply.status_code == 200
    assert reply.json()["status"] == "UP"
    assert reply.json()["service"] == "order-service"


def test_no_business_endpoints_exist_yet() -> None:
    paths = {route.path for route in app.routes}  # type: ignore[attr-defined]
    assert not any(path.startswith("/api/") for path in paths)
