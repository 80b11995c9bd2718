"""Proxied routes (`/api/**`) answered without Starlette's routing.

`ProxyRoutes` is the innermost middleware of the gateway's one stack: everything outside it
(the header limit, tracing, request ids, RED metrics, the 500 handler) runs for every request
exactly as for any other route, once. A request it recognises as proxied (a method the
`/api/{path:path}` route accepts, a path that route's pattern matches) goes straight to
`Gateway.handle`, with what the router would have set (`scope["route"]`, so the metrics label
stays `/api/{path:path}`) and the app's exception handlers for what it raises, as Starlette
gives a routed endpoint.
Everything else (the gateway's own endpoints, the storefront, docs, other methods) goes on to
FastAPI unchanged.

Measured (bench/hot_paths.py, py-spy): routing, the per-route request/response wrapper and the
middlewares between them were about a third of the gateway's CPU per proxied request.
"""

from collections.abc import Collection
from typing import Any

from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/api/"


def exception_handlers(app: Any) -> tuple[dict[Any, Any], dict[int, Any]]:
    """The handlers Starlette's ExceptionMiddleware gives a routed endpoint: every registered
    one but the catch-all (500 / Exception), which stays with ServerErrorMiddleware."""
    by_type: dict[Any, Any] = {}
    by_status: dict[int, Any] = {}
    for key, handler in app.exception_handlers.items():
        if key in (500, Exception):
            continue
        if isinstance(key, int):
            by_status[key] = handler
        else:
            by_type[key] = handler
    return by_type, by_status


class ProxyRoutes:
    def __init__(self, app: ASGIApp, route: Route, methods: Collection[str]) -> None:
        self.app = app
        self.route = route
        self.methods = frozenset(methods)
        self._handlers: tuple[dict[Any, Any], dict[int, Any]] | None = None

    def proxied(self, scope: Scope) -> bool:
        """Exactly what routes to `/api/{path:path}`: its methods, its prefix, and its pattern
        (`.*` stops at a newline; a root_path is left to the router, which strips it)."""
        if scope["type"] != "http" or scope["method"] not in self.methods:
            return False
        path: str = scope["path"]
        return path.startswith(PREFIX) and "\n" not in path and not scope.get("root_path")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.proxied(scope):
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        if self._handlers is None:
            self._handlers = exception_handlers(app)
        # What the router sets for a matched route (RED labels requests by scope["route"]).
        scope["route"] = self.route
        scope["endpoint"] = self.route.endpoint
        scope["path_params"] = {"path": scope["path"][len(PREFIX) :]}
        request = Request(scope, receive, send)
        try:
            response = await app.state.gateway.handle(request)
        except Exception as exc:
            # As Starlette does around a routed endpoint (the response has not started: the
            # gateway answers only once it returns): the app's handler for it, if any.
            handler = self._handler_for(exc)
            if handler is None:
                raise
            if is_async_callable(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            # Reused exception instances accumulate tracebacks across requests.
            exc.__traceback__ = None
            if response is None:
                return
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Any:
        assert self._handlers is not None
        by_type, by_status = self._handlers
        if isinstance(exc, HTTPException) and exc.status_code in by_status:
            return by_status[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in by_type:
                return by_type[cls]
        return None
