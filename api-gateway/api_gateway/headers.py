"""What crosses the gateway in each direction: hop-by-hop headers stop here, identity headers
from clients never pass, tracing and forwarding headers are set."""

import os
import re
from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from chassis.deadlines import DEADLINE_HEADER

# RFC 9110 7.6.1 plus the ones proxies conventionally treat the same way.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Identity is asserted by the gateway only (X-User-Id, X-User-Email, X-User-Roles, ...).
IDENTITY_PREFIX = "x-user-"
# The client's own forwarding claims are replaced, never trusted.
FORWARDED = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded"})
# Never sent upstream: hop-by-hop, forwarding claims, Host (the upstream's own is set).
# The client's budget reaches the service only through the gateway's (never longer than it).
DEADLINE_HEADER_LOWER = DEADLINE_HEADER.lower()
_REQUEST_DROP = HOP_BY_HOP | FORWARDED | {"host", DEADLINE_HEADER_LOWER}
_REQUEST_DROP_WITHOUT_AUTHORIZATION = _REQUEST_DROP | {"authorization"}
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")

Headers = list[tuple[str, str]]


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    """Headers the sender listed in `Connection` are hop-by-hop too."""
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def new_traceparent() -> str:
    # Trace id (16 bytes) and span id (8) from one getrandom call.
    ids = os.urandom(24).hex()
    return f"00-{ids[:32]}-{ids[32:]}-01"


def upstream_request_headers(
    client_headers: Iterable[tuple[str, str]],
    *,
    client_ip: str,
    scheme: str,
    host: str,
    request_id: str,
    identity: Iterable[tuple[str, str]] = (),
    drop_authorization: bool = False,
    budget_seconds: float | None = None,
) -> Headers:
    """The headers sent upstream. `request_id` is the one this request is logged with. Host is
    left to the HTTP client (the upstream's own); the original is in X-Forwarded-Host.
    `budget_seconds` is how long the gateway will wait for the answer: the upstream gets it as
    X-Request-Timeout-Ms (chassis.deadlines), in place of whatever the client sent."""
    client_headers = list(client_headers)
    # Content-Length passes: the body is streamed on unchanged (bounded by the gateway).
    drop = _REQUEST_DROP_WITHOUT_AUTHORIZATION if drop_authorization else _REQUEST_DROP
    tokens = _connection_tokens(client_headers)
    if tokens:
        drop = drop | tokens
    out: Headers = []
    traceparent = ""
    prior_for = ""
    for name, value in client_headers:
        lower = name.lower()
        if lower == "x-forwarded-for":
            prior_for = value
        if lower in drop or lower.startswith(IDENTITY_PREFIX) or lower == "x-request-id":
            continue
        if lower == "traceparent":
            traceparent = value if TRACEPARENT.match(value.strip()) else ""
            continue
        out.append((lower, value))
    out.append(("x-request-id", request_id))
    out.append(("traceparent", traceparent or new_traceparent()))
    # Appending keeps the chain when another proxy stands in front of the gateway.
    out.append(("x-forwarded-for", f"{prior_for}, {client_ip}" if prior_for else client_ip))
    out.append(("x-forwarded-proto", scheme))
    out.append(("x-forwarded-host", host))
    out.extend(identity)
    if budget_seconds is not None:
        out.append((DEADLINE_HEADER_LOWER, str(max(1, int(budget_seconds * 1000)))))
    return out


# The gateway's server stamps its own Date and Server, and echoes its own request id.
_RESPONSE_DROP = HOP_BY_HOP | {"x-request-id", "date", "server"}

# Headers that may carry a URL the upstream built from its own address.
URL_HEADERS = frozenset({"location", "content-location"})


def _origin(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def hide_upstream(url: str, upstream_origins: Collection[str]) -> str:
    """A URL pointing at an upstream instance (a service's trailing-slash 307 names its own
    address) becomes relative, so it resolves against the gateway: no upstream address ever
    reaches a client. Other URLs pass unchanged."""
    origin = _origin(url)
    if origin is None or origin not in upstream_origins:
        return url
    parts = urlsplit(url.strip())
    relative = parts.path or "/"
    if parts.query:
        relative += f"?{parts.query}"
    if parts.fragment:
        relative += f"#{parts.fragment}"
    return relative


def upstream_origins(instance_urls: Iterable[str]) -> frozenset[str]:
    """`http://127.0.0.1:8001` and its spellings the upstream may use in a Location."""
    origins: set[str] = set()
    for url in instance_urls:
        origin = _origin(url)
        if origin is None:
            continue
        origins.add(origin)
        scheme, _, netloc = origin.partition("://")
        default = {"http": ":80", "https": ":443"}.get(scheme)
        if default and netloc.endswith(default):
            origins.add(f"{scheme}://{netloc.removesuffix(default)}")
        elif default and ":" not in netloc.rsplit("]", 1)[-1]:
            origins.add(f"{origin}{default}")
    return frozenset(origins)


def client_response_headers(
    upstream_headers: Iterable[tuple[str, str]], origins: Collection[str] = ()
) -> Headers:
    upstream_headers = list(upstream_headers)
    drop = _RESPONSE_DROP
    tokens = _connection_tokens(upstream_headers)
    if tokens:
        drop = drop | tokens
    return [
        (n, hide_upstream(v, origins) if n.lower() in URL_HEADERS else v)
        for n, v in upstream_headers
        if n.lower() not in drop
    ]
