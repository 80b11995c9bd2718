"""create_app(): the FastAPI application every service starts from.

It wires what all services share: JSON logging, the error model, request ids, deadlines and RED
metrics (one middleware), `/health` (the process is alive) and `/ready` (the service's own
dependencies answer).
"""

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chassis import deadlines
from chassis.errors import install_error_handlers
from chassis.logging import configure_logging
from chassis.memory import release_free_memory
from chassis.metrics import RouteMetrics, install_metrics
from chassis.openapi_statuses import declare_statuses
from chassis.settings import BaseServiceSettings
from chassis.tracing import configure_tracing_from_settings, instrument_app
from chassis.validation import StrictJSONMiddleware

if TYPE_CHECKING:
    from chassis.lifecycle import Setup

ReadinessCheck = Callable[[], Awaitable[Any]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

READY_CHECK_TIMEOUT_SECONDS = 2.0


def _trimmed(lifespan: Lifespan) -> Lifespan:
    """``lifespan``, with the memory its start-up freed handed back once it has started
    (chassis.memory)."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            release_free_memory()
            yield

    return run


class RequestMiddleware:
    """One layer for what every request gets: takes X-Request-ID from the caller (or makes
    one), logs with it and echoes it back; takes the caller's budget (`X-Request-Timeout-Ms`,
    chassis.deadlines) for the calls the request makes; records its RED metrics
    (chassis.metrics) by route template, so ids never become labels. One layer and one send
    wrapper rather than one per concern: each layer costs every request a coroutine and a
    closure."""

    def __init__(self, app: ASGIApp, metrics: RouteMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = ""
        budget = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")[:128]
            elif name == deadlines.DEADLINE_HEADER_BYTES:
                budget = deadlines.parse_budget_ms(value)
        request_id = request_id or os.urandom(16).hex()
        echoed = (b"x-request-id", request_id.encode("latin-1"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append(echoed)
            await send(message)

        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            if budget is None:
                await self.app(scope, receive, send_with_id)
            else:
                with deadlines.deadline_in(budget):
                    await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**bound)
            route = scope.get("route")
            self.metrics.observe(
                scope["method"],
                getattr(route, "path", None) or "unmatched",
                status,
                time.perf_counter() - start,
            )


async def _run_check(check: ReadinessCheck) -> str | None:
    """None when the dependency answered, else a short reason."""
    try:
        await asyncio.wait_for(check(), READY_CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"no answer within {READY_CHECK_TIMEOUT_SECONDS}s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def create_app(
    settings: BaseServiceSettings,
    *,
    title: str,
    version: str = "0.1.0",
    description: str = "",
    setup: "Setup | None" = None,
    health_details: Mapping[str, Any] | None = None,
    strict_json_bodies: bool = True,
) -> FastAPI:
    """Build the service app. `setup(app, components)` registers the service's components
    (chassis.lifecycle): they give the lifespan and the /ready checks (none without it).
    `health_details` are added to /health (e.g. the gateway's `auth_enabled`, ai-service's
    `llm_provider`). `strict_json_bodies=False` leaves bodies unread (a proxy streams them;
    see chassis.validation)."""
    details = dict(health_details or {})
    lifespan: Lifespan | None = None
    readiness_checks: Callable[[], Mapping[str, ReadinessCheck]] | None = None
    if setup is not None:
        from chassis.lifecycle import lifespan as components_lifespan
        from chassis.lifecycle import readiness

        lifespan = components_lifespan(setup)

        def readiness_checks() -> Mapping[str, ReadinessCheck]:
            return readiness(app)

    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    tracing = configure_tracing_from_settings(
        settings.service_name, settings.otel_exporter_otlp_endpoint
    )
    for warning in settings.legacy_warnings:
        structlog.get_logger("chassis.settings").warning(
            "config.original_variable_name", detail=warning
        )
    # FastAPI's native telemetry would record a second set of spans beside the OpenTelemetry
    # middleware's (and its own metrics): trace once, through the middleware.
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=_trimmed(lifespan) if lifespan is not None else None,
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_error_handlers(app)
    declare_statuses(app)
    if strict_json_bodies:
        app.add_middleware(StrictJSONMiddleware)
    install_metrics(app)
    app.add_middleware(RequestMiddleware, metrics=RouteMetrics(settings.service_name))
    if tracing:
        instrument_app(app)

    @app.get("/health", tags=["ops"], summary="Liveness: the process answers")
    async def health() -> dict[str, Any]:
        return {"status": "UP", "service": settings.service_name, "version": version, **details}

    @app.get("/ready", tags=["ops"], summary="Readiness: the service's own dependencies answer")
    async def ready() -> JSONResponse:
        checks = dict(readiness_checks()) if readiness_checks else {}
        results = await asyncio.gather(*(_run_check(c) for c in checks.values()))
        report = {
            name: ({"status": "UP"} if err is None else {"status": "DOWN", "error": err})
            for name, err in zip(checks, results, strict=True)
        }
        up = all(err is None for err in results)
        return JSONResponse(
            status_code=200 if up else 503,
            content={
                "status": "UP" if up else "DOWN",
                "service": settings.service_name,
                "checks": report,
            },
        )

    return app
