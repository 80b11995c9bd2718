from fastapi.testclient import TestClient

from search_service.config import Settings
from search_service.main import build_app

# Nothing listens on port 1: the service must still start (and say Elasticsearch is down).
CLOSED = "http://127.0.0.1:1"


def test_health_answers_up_with_service_name_even_without_elasticsearch() -> None:
    app = build_app(Settings(elasticsearch_url=CLOSED, run_event_consumer=False))
    with TestClient(app) as client:
        reply = client.get("/health")
        ready = client.get("/ready")
    assert reply.status_code == 200
    assert reply.json()["status"] == "UP"
    assert reply.json()["service"] == "search-service"
    assert ready.status_code == 503
    assert ready.json()["checks"]["elasticsearch"]["status"] == "DOWN"


def test_search_routes_are_served() -> None:
    app = build_app(Settings(elasticsearch_url=CLOSED, run_event_consumer=False))
    paths = set(app.openapi()["paths"])
    assert {
        "/api/search",
        "/api/search/autocomplete",
        "/api/search/filter",
        "/api/search/reindex",
    } <= paths
