"""Every status a route really answers is declared in its OpenAPI operation.

FastAPI documents 200/201 and 422 by itself; the rest of what a route can answer comes from
the chassis and from the gateway in front of it. ``declare_statuses(app)`` adds them once for
every service, so a schema-driven client or fuzzer meets no undocumented status:

- 503 on every operation: a dependency (database, broker, another service) is unavailable;
- on every ``/api`` operation, what the gateway may answer instead of the service: 429 (rate
  limit), 502 (the service closed the connection), 504 (it did not answer in time), and 413
  for a body above the gateway's limit;
- 400 on operations that take input (a malformed id, nothing to update, a rule of the
  domain), 404 on operations with a path parameter (no such resource).

A route keeps its own, more precise description of any of these (``responses=`` on the
route). Services' fuzz tests check that nothing else is ever answered.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "What went wrong, a sentence"}},
    "required": ["detail"],
}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _add(operation: dict[str, Any], status: str, description: str) -> None:
    responses = operation.setdefault("responses", {})
    if status not in responses:
        responses[status] = _error(description)


def complete_statuses(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (an OpenAPI document) with the statuses above declared where they apply."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
            has_body = "requestBody" in operation
            _add(operation, "503", "A dependency is unavailable; retry later")
            if path.startswith("/api/"):
                _add(operation, "429", "Too many requests (the gateway's rate limit)")
                _add(operation, "502", "The service closed the connection (at the gateway)")
                _add(operation, "504", "The service did not answer in time (at the gateway)")
                if has_body:
                    _add(operation, "413", "Request body too large (at the gateway)")
            if parameters or has_body:
                _add(operation, "400", "Bad input: a malformed id, or a rule of the domain")
            if any(p.get("in") == "path" for p in parameters):
                _add(operation, "404", "No such resource")
    return schema


def declare_statuses(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_statuses(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                    servers=app.servers,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
