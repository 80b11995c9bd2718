"""One public request, end to end: route, identity, access rules, rate limit, forward."""

import json
from collections.abc import AsyncIterator

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api_gateway.access import (
    Allow,
    Deny,
    RequireOrderOwner,
    RequireOwnEmail,
    Rewrite,
    decide,
    owns,
    places_own_order,
)
from api_gateway.clients import BodyTooLarge
from api_gateway.config import Settings
from api_gateway.headers import (
    client_response_headers,
    upstream_origins,
    upstream_request_headers,
)
from api_gateway.identity import Identity, InvalidToken, ProviderUnavailable, TokenValidator
from api_gateway.proxy import Proxy, UpstreamResponse, bounded, problem
from api_gateway.rate_limits import RateLimits, Unavailable, Verdict
from api_gateway.routing import Upstream, segment_of
from chassis import deadlines
from chassis.validation import HostileJSON

log = structlog.get_logger(__name__)


def unauthorized(description: str) -> JSONResponse:
    # RFC 6750 3: the error and a sentence; quotes would break the header's syntax.
    safe = description.replace('"', "'")
    return problem(
        401,
        description,
        {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{safe}"'},
    )


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


def identity_headers(identity: Identity | None) -> list[tuple[str, str]]:
    if identity is None:
        return []
    headers = [("x-user-id", identity.subject), ("x-user-roles", ",".join(sorted(identity.roles)))]
    if identity.email:
        headers.append(("x-user-email", identity.email))
    return headers


class Gateway:
    def __init__(
        self,
        settings: Settings,
        upstreams: dict[str, Upstream],
        proxy: Proxy,
        validator: TokenValidator | None,
        rate_limits: RateLimits | None,
    ) -> None:
        self.settings = settings
        self.upstreams = upstreams
        self.proxy = proxy
        self.validator = validator
        self.rate_limits = rate_limits
        # Locations naming one of these are made relative (headers.hide_upstream).
        self.origins = upstream_origins(
            instance for upstream in upstreams.values() for instance in upstream.instances
        )

    async def handle(self, request: Request) -> Response:
        path = url_path(request)
        segment = segment_of(path)
        if segment is None:
            return problem(404, f"No route for {path}.")
        if any(part in (".", "..") for part in path.split("/")):
            # Rules are decided on the path as written; an upstream resolving dot segments
            # would otherwise act on a path no rule saw.
            return problem(400, "The path must not contain '.' or '..' segments.")
        upstream = self.upstreams[segment]

        identity: Identity | None = None
        auth_error: Response | None = None
        if self.validator is not None:
            identity, auth_error = await self._authenticate(request)

        verdict: Verdict | None = None
        if self.rate_limits is not None:
            client = f"sub:{identity.subject}" if identity else f"ip:{client_ip(request)}"
            decided = await self.rate_limits.check(client, self.rate_limits.bucket_for(segment))
            if isinstance(decided, Unavailable):
                return problem(503, decided.detail, {"Retry-After": str(decided.retry_after)})
            verdict = decided
            if verdict is not None and not verdict.allowed:
                return problem(
                    429, "Too many requests; slow down and retry later.", verdict.headers()
                )
        response = auth_error or await self._authorized(request, upstream, segment, identity)
        if verdict is not None:
            verdict.add_to(response)
        return response

    async def _authenticate(self, request: Request) -> tuple[Identity | None, Response | None]:
        assert self.validator is not None
        token = bearer_token(request)
        if token is None:
            return None, unauthorized("An access token is required (Authorization: Bearer).")
        if not token:
            return None, unauthorized("The Authorization header is not a Bearer token.")
        try:
            return await self.validator.validate(token), None
        except InvalidToken as exc:
            return None, unauthorized(exc.description)
        except ProviderUnavailable as exc:
            log.warning("gateway.identity_provider_unavailable", error=str(exc))
            return None, problem(503, "identity provider is unavailable")

    async def _authorized(
        self, request: Request, upstream: Upstream, segment: str, identity: Identity | None
    ) -> Response:
        method = request.method
        path = url_path(request)
        query: str | None = None
        if identity is not None:
            decision = decide(identity, method, path, segment, url_query(request))
            match decision:
                case Deny(detail):
                    return problem(403, detail)
                case Rewrite(new_path, new_query):
                    path = new_path
                    query = new_query
                case RequireOrderOwner(order_id):
                    return await self._for_order_owner(request, upstream, identity, order_id)
                case RequireOwnEmail():
                    return await self._own_order_only(request, upstream, identity)
                case Allow():
                    pass
        return await self.forward(
            request,
            upstream,
            path if path != url_path(request) else raw_path(request),
            identity,
            query=query,
        )

    async def _for_order_owner(
        self, request: Request, upstream: Upstream, identity: Identity, order_id: str
    ) -> Response:
        # The order (its customer_email) lives in order-service, whichever upstream asked.
        orders = self.upstreams["orders"]
        lookup = await self.proxy.forward(
            orders,
            "GET",
            f"/api/orders/{order_id}",
            self._headers(request, identity, self.settings.upstream_timeout_seconds),
            b"",
            self.settings.upstream_timeout_seconds,
        )
        if isinstance(lookup, Response):
            return lookup
        try:
            body = b"".join([chunk async for chunk in lookup.body])
        finally:
            await lookup.close()
        headers = dict(client_response_headers(lookup.headers, self.origins))
        if lookup.status != 200:
            # 400 (bad id) and 404 (no such order) reach the client as order-service said them.
            return Response(body, status_code=lookup.status, headers=headers)
        try:
            order = json.loads(body)
        except ValueError:
            return problem(502, "order-service answered something other than JSON")
        if not owns(identity, order):
            if upstream.segment != "orders":
                return problem(403, "A customer sees only its own orders' reservations.")
            return problem(403, "A customer sees only its own orders.")
        if request.method == "GET" and upstream.segment == "orders":
            return Response(body, status_code=200, headers=headers)
        return await self.forward(request, upstream, raw_path(request), identity)

    async def _own_order_only(
        self, request: Request, upstream: Upstream, identity: Identity
    ) -> Response:
        limit = self.settings.max_request_body_bytes
        try:
            body = b"".join([chunk async for chunk in bounded(request.stream(), limit)])
        except BodyTooLarge:
            return problem(413, f"Request body is larger than {limit} bytes.")
        try:
            own = places_own_order(identity, body)
        except HostileJSON as exc:
            return problem(422, str(exc))
        if not own:
            return problem(403, "A customer places orders only under its own email.")
        return await self.forward(request, upstream, raw_path(request), identity, body=body)

    def _headers(
        self, request: Request, identity: Identity | None, timeout: float
    ) -> list[tuple[str, str]]:
        return upstream_request_headers(
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            client_ip=client_ip(request),
            scheme=request.scope["scheme"],
            host=request.headers.get("host", ""),
            request_id=str(structlog.contextvars.get_contextvars().get("request_id", "")),
            identity=identity_headers(identity),
            # Downstream trusts the X-User-* headers; the token itself stays at the door.
            drop_authorization=self.validator is not None,
            # How long we wait for the answer (less, when the client's own budget is shorter):
            # the service stops retrying its dependencies when that is spent.
            budget_seconds=deadlines.cap(timeout),
        )

    async def forward(
        self,
        request: Request,
        upstream: Upstream,
        path: str,
        identity: Identity | None,
        *,
        body: bytes | None = None,
        query: str | None = None,
    ) -> Response:
        """Proxy the request; `body` when it was already read (and checked) here; `query`
        replaces the caller's query string."""
        if body is not None:
            return await self._send(request, upstream, path, identity, body, query)
        limit = self.settings.max_request_body_bytes
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return problem(400, "Content-Length is not a number.")
            if int(length) > limit:
                return problem(413, f"Request body is larger than {limit} bytes.")
        streamed: AsyncIterator[bytes] | bytes
        if (length is None and "transfer-encoding" not in request.headers) or length == "0":
            streamed = b""
        else:
            streamed = bounded(request.stream(), limit)
        return await self._send(request, upstream, path, identity, streamed, query)

    async def _send(
        self,
        request: Request,
        upstream: Upstream,
        path: str,
        identity: Identity | None,
        body: AsyncIterator[bytes] | bytes,
        query: str | None = None,
    ) -> Response:
        query = url_query(request) if query is None else query
        target = f"{path}?{query}" if query else path
        timeout = (
            self.settings.ai_upstream_timeout_seconds
            if upstream.segment == "ai"
            else self.settings.upstream_timeout_seconds
        )
        reply = await self.proxy.forward(
            upstream,
            request.method,
            target,
            self._headers(request, identity, timeout),
            body,
            timeout,
        )
        if isinstance(reply, Response):
            return reply
        return UpstreamResponse(reply, client_response_headers(reply.headers, self.origins))


# What urlsplit would strip or cut at while building `request.url`; rare, so left to it.
_URL_UNSAFE = ("\t", "\r", "\n")


def url_path(request: Request) -> str:
    """`request.url.path`, read from the scope (building the whole URL costs per request)."""
    path: str = request.scope["path"]
    if any(char in path for char in _URL_UNSAFE):
        return request.url.path
    return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def url_query(request: Request) -> str:
    """`request.url.query`, read from the scope."""
    raw: bytes = request.scope.get("query_string", b"")
    if not raw:
        return ""
    query = raw.decode()
    if "#" in query or any(char in query for char in _URL_UNSAFE):
        return request.url.query
    return query


def raw_path(request: Request) -> str:
    """The path as the client encoded it (an id holding %2F stays one segment upstream)."""
    raw = request.scope.get("raw_path")
    # Some ASGI servers (and httpx's ASGITransport) include the query string in raw_path.
    return raw.decode("latin-1").split("?", 1)[0] if raw else url_path(request)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
