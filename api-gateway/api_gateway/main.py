"""api-gateway: wiring only. `uvicorn api_gateway.main:app --port 9000`."""

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api_gateway.clients import UpstreamClient, make_client
from api_gateway.config import Settings
from api_gateway.fast_path import ProxyRoutes
from api_gateway.gateway import Gateway
from api_gateway.identity import TokenValidator
from api_gateway.limits import HeaderLimitMiddleware
from api_gateway.proxy import Proxy
from api_gateway.rate_limits import RateLimits
from api_gateway.routing import upstreams
from api_gateway.storefront import mount_storefront
from chassis import create_app
from chassis.lifecycle import Components

PROXY_PATH = "/api/{path:path}"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def build_app(settings: Settings, *, upstream_client: UpstreamClient | None = None) -> FastAPI:
    async def setup(app: FastAPI, components: Components) -> None:
        routes = upstreams(settings)
        # One pooled client for the whole process, shared by every upstream.
        client = upstream_client or make_client(
            max_connections=settings.upstream_max_connections,
            connect_timeout=settings.upstream_connect_timeout_seconds,
            read_timeout=settings.upstream_timeout_seconds,
        )
        proxy = Proxy(
            client,
            failure_threshold=settings.breaker_failure_threshold,
            reset_seconds=settings.breaker_reset_seconds,
            upstreams=list(routes.values()),
        )
        components.add("upstreams", stop=proxy.aclose)
        validator = None
        if settings.auth_enabled:
            oidc_http = httpx.AsyncClient(timeout=httpx.Timeout(settings.http_timeout_seconds))
            components.add("identity-provider", stop=oidc_http.aclose)
            validator = TokenValidator(
                settings.oidc_issuer_url,
                settings.oidc_audience,
                settings.algorithms,
                http=oidc_http,
                cache_seconds=settings.jwks_cache_seconds,
                min_refetch_seconds=settings.jwks_min_refetch_seconds,
                leeway_seconds=settings.jwt_leeway_seconds,
            )
        rate_limits = None
        if settings.rate_limit_enabled:
            rate_limits = RateLimits(
                settings.redis_url,
                default=settings.rate_limit_default,
                ai=settings.rate_limit_ai,
                strategy=settings.rate_limit_strategy,
                key_prefix=settings.rate_limit_key_prefix,
                timeout_seconds=settings.rate_limit_timeout_seconds,
                max_connections=settings.rate_limit_redis_max_connections,
                queue_timeout_seconds=settings.rate_limit_queue_timeout_seconds,
                on_redis_down=settings.rate_limit_on_redis_down,
            )
            components.add("redis", stop=rate_limits.close, ready=rate_limits.ping)
        app.state.gateway = Gateway(settings, routes, proxy, validator, rate_limits)

    app = create_app(
        settings,
        title="api-gateway",
        description=(
            "The fleet's public door: /api/{products,orders,inventory,ai,search,notifications}/**"
            " are proxied to their services (their OpenAPI documents them), after token "
            "validation, access rules and per-client rate limits."
        ),
        setup=setup,
        health_details={"auth_enabled": settings.auth_enabled},
        # Bodies stream through to the services, which refuse hostile JSON themselves.
        strict_json_bodies=False,
    )
    # Outermost: oversized headers are refused before anything else reads them.
    app.add_middleware(HeaderLimitMiddleware, max_bytes=settings.max_request_header_bytes)

    async def proxy_endpoint(request: Request) -> Response:
        gateway: Gateway = request.app.state.gateway
        return await gateway.handle(request)

    app.router.add_route(PROXY_PATH, proxy_endpoint, methods=METHODS, include_in_schema=False)
    # Innermost: what the route above would serve is answered without routing (fast_path).
    proxy_route = next(
        r for r in app.router.routes if isinstance(r, Route) and r.path == PROXY_PATH
    )
    app.user_middleware.append(
        Middleware(ProxyRoutes, route=proxy_route, methods=proxy_route.methods or ())
    )
    # Last: the shop's catch-all answers only paths nothing above claims.
    mount_storefront(app, settings)
    return app


app = build_app(Settings())
