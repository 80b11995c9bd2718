"""create_app(): health, readiness, the error model, request ids and RED metrics."""

import asyncio
import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from chassis import BaseServiceSettings, Conflict, DependencyUnavailable, NotFound, create_app
from chassis.lifecycle import Components
from chassis.logging import configure_logging


def _app(**checks):
    async def setup(app: FastAPI, components: Components) -> None:
        for name, check in checks.items():
            components.add(name, ready=check)

    app = create_app(BaseServiceSettings(service_name="unit-svc"), title="unit", setup=setup)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 404:
            raise NotFound("Item 404 not found")
        if item_id == 409:
            raise Conflict("Item 409 already exists")
        if item_id == 503:
            raise DependencyUnavailable("The warehouse is unavailable")
        if item_id == 500:
            raise RuntimeError("secret internals")
        return {"id": item_id}

    return app


def test_health_answers_up_with_the_service_name() -> None:
    reply = TestClient(_app()).get("/health")
    assert reply.status_code == 200
    assert reply.json()["status"] == "UP"
    assert reply.json()["service"] == "unit-svc"


def test_ready_is_up_when_every_check_answers() -> None:
    async def fine() -> None:
        return None

    with TestClient(_app(database=fine)) as client:
        reply = client.get("/ready")
    assert reply.status_code == 200
    assert reply.json()["checks"] == {"database": {"status": "UP"}}


def test_ready_is_503_naming_the_failing_and_the_hanging_check(monkeypatch) -> None:
    monkeypatch.setattr("chassis.app.READY_CHECK_TIMEOUT_SECONDS", 0.05)

    async def fine() -> None:
        return None

    async def broken() -> None:
        raise ConnectionRefusedError("connection refused")

    async def hanging() -> None:
        await asyncio.sleep(10)

    with TestClient(_app(database=fine, broker=broken, cache=hanging)) as client:
        reply = client.get("/ready")
    assert reply.status_code == 503
    body = reply.json()
    assert body["status"] == "DOWN"
    assert body["checks"]["database"] == {"status": "UP"}
    assert body["checks"]["broker"]["status"] == "DOWN"
    assert "connection refused" in body["checks"]["broker"]["error"]
    assert "no answer within" in body["checks"]["cache"]["error"]


@pytest.mark.parametrize(
    ("item_id", "status", "detail"),
    [
        (404, 404, "Item 404 not found"),
        (409, 409, "Item 409 already exists"),
        (503, 503, "The warehouse is unavailable"),
    ],
)
def test_domain_errors_render_as_one_sentence(item_id: int, status: int, detail: str) -> None:
    reply = TestClient(_app()).get(f"/items/{item_id}")
    assert reply.status_code == status
    assert reply.json() == {"detail": detail}


def test_unexpected_errors_hide_the_stack_trace() -> None:
    reply = TestClient(_app(), raise_server_exceptions=False).get("/items/500")
    assert reply.status_code == 500
    assert reply.json() == {"detail": "Internal server error."}
    assert "secret" not in reply.text


def test_validation_errors_stay_fastapi_422_lists() -> None:
    reply = TestClient(_app()).get("/items/not-a-number")
    assert reply.status_code == 422
    assert isinstance(reply.json()["detail"], list)


def test_request_id_is_echoed_or_created() -> None:
    client = TestClient(_app())
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == (
        "abc-123"
    )
    assert len(client.get("/health").headers["x-request-id"]) == 32


def test_metrics_count_requests_per_route_template_not_per_id() -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    for item_id in (1, 2, 404, 500):
        client.get(f"/items/{item_id}")

    def sample(name: str, **labels: str) -> float:
        value = REGISTRY.get_sample_value(name, {"service": "unit-svc", **labels})
        return value or 0.0

    route = {"method": "GET", "route": "/items/{item_id}"}
    assert sample("http_requests_total", status="200", **route) >= 2
    assert sample("http_requests_total", status="404", **route) >= 1
    assert sample("http_request_errors_total", **route) >= 1
    assert sample("http_request_duration_seconds_count", **route) >= 4
    text = client.get("/metrics").text
    assert 'route="/items/{item_id}"' in text
    assert 'route="/items/1"' not in text


def test_logs_are_one_json_object_per_line(capsys) -> None:
    configure_logging("unit-svc", "INFO", "json")
    logging.getLogger("some.library").warning("disk %s", "full")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "disk full"
    assert record["level"] == "warning"
    assert record["service"] == "unit-svc"
