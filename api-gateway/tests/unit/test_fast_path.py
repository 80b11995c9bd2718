"""Proxied requests skip Starlette's routing (api_gateway.fast_path) yet are measured, tagged
and error-handled as a routed request is; what the proxy route does not serve goes on to it."""

import httpx
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY
from starlette.requests import Request
from starlette.responses import Response

from api_gateway.config import Settings
from api_gateway.main import build_app
from chassis.errors import DependencyUnavailable

ROUTE = "/api/{path:path}"


def requests_counted(status: str) -> float:
    labels = {"service": "api-gateway", "method": "GET", "route": ROUTE, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def settings() -> Settings:
    # Nothing listens on port 9: the upstream refuses, the gateway answers 503 itself.
    return Settings(rate_limit_enabled=False, product_service_url="http://127.0.0.1:9")


async def test_a_proxied_request_is_counted_once_under_the_proxy_route_with_its_request_id() -> (
    None
):
    app = build_app(settings())
    before = requests_counted("503")
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            reply = await client.get("/api/products/p-1", headers={"x-request-id": "fast-1"})
    assert reply.status_code == 503
    assert reply.json() == {"detail": "product-service is unavailable"}
    assert reply.headers["x-request-id"] == "fast-1"
    assert requests_counted("503") == before + 1


class Raising:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def handle(self, request: Request) -> Response:
        raise self.exc


async def test_what_the_gateway_raises_meets_the_apps_error_handlers() -> None:
    app = build_app(settings())
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            app.state.gateway = Raising(DependencyUnavailable("the thing is away"))
            away = await client.get("/api/products")
            app.state.gateway = Raising(RuntimeError("a bug"))
            bug = await client.get("/api/products")
    assert (away.status_code, away.json()) == (503, {"detail": "the thing is away"})
    assert (bug.status_code, bug.json()) == (500, {"detail": "Internal server error."})
    assert "a bug" not in bug.text


async def test_a_method_the_proxy_route_does_not_take_still_gets_the_routers_405() -> None:
    app = build_app(settings())
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            reply = await client.request("TRACE", "/api/products")
    assert reply.status_code == 405
    assert "GET" in reply.headers["allow"]
