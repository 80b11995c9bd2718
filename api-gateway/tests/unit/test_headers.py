"""What crosses the gateway: hop-by-hop stops, identity is the gateway's alone."""

from api_gateway.headers import (
    TRACEPARENT,
    client_response_headers,
    hide_upstream,
    upstream_origins,
    upstream_request_headers,
)


def _upstream(headers: list[tuple[str, str]], **kwargs: object) -> dict[str, list[str]]:
    out = upstream_request_headers(
        headers, client_ip="10.0.0.9", scheme="http", host="shop.test", request_id="rid-1", **kwargs
    )  # type: ignore[arg-type]
    grouped: dict[str, list[str]] = {}
    for name, value in out:
        grouped.setdefault(name, []).append(value)
    return grouped


def test_client_sent_identity_headers_are_stripped() -> None:
    out = _upstream(
        [
            ("X-User-Id", "admin"),
            ("x-user-roles", "admin"),
            ("X-User-Email", "boss@example.com"),
            ("accept", "application/json"),
        ],
        identity=[("x-user-id", "c-1"), ("x-user-roles", "customer")],
    )
    assert out["x-user-id"] == ["c-1"]
    assert out["x-user-roles"] == ["customer"]
    assert "x-user-email" not in out
    assert out["accept"] == ["application/json"]


def test_hop_by_hop_headers_are_dropped_both_ways() -> None:
    out = _upstream(
        [
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("X-Secret-Hop", "1"),
            ("Proxy-Authorization", "Basic x"),
            ("Content-Length", "3"),
        ]
    )
    for name in (
        "connection",
        "keep-alive",
        "te",
        "upgrade",
        "x-secret-hop",
        "proxy-authorization",
    ):
        assert name not in out
    assert out["content-length"] == ["3"]
    back = client_response_headers(
        [
            ("Transfer-Encoding", "chunked"),
            ("Connection", "close"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("X-Request-ID", "upstream-id"),
            ("Date", "Wed, 25 Nov 2026 15:51:59 GMT"),
            ("Server", "uvicorn"),
        ]
    )
    assert back == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]


def test_tracing_and_forwarding_headers_are_set() -> None:
    out = _upstream(
        [
            ("Host", "shop.test"),
            ("X-Forwarded-For", "1.2.3.4"),
            ("X-Forwarded-Host", "evil.test"),
            ("X-Request-ID", "client-chosen"),
        ]
    )
    assert out["x-request-id"] == ["rid-1"]
    assert TRACEPARENT.match(out["traceparent"][0])
    assert out["x-forwarded-for"] == ["1.2.3.4, 10.0.0.9"]
    assert out["x-forwarded-host"] == ["shop.test"]
    assert out["x-forwarded-proto"] == ["http"]
    assert "host" not in out


def test_a_valid_traceparent_is_kept_and_a_bogus_one_replaced() -> None:
    good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert _upstream([("traceparent", good)])["traceparent"] == [good]
    assert _upstream([("traceparent", "junk")])["traceparent"] != ["junk"]


def test_authorization_stays_at_the_door_when_auth_is_on() -> None:
    assert "authorization" not in _upstream(
        [("Authorization", "Bearer t")], drop_authorization=True
    )
    assert _upstream([("Authorization", "Bearer t")])["authorization"] == ["Bearer t"]


def test_a_location_naming_an_upstream_becomes_relative() -> None:
    origins = upstream_origins(["http://127.0.0.1:8001", "http://orders:80", "https://ai"])
    assert hide_upstream("http://127.0.0.1:8001/api/products?page=2", origins) == (
        "/api/products?page=2"
    )
    assert hide_upstream("HTTP://127.0.0.1:8001/api/x#f", origins) == "/api/x#f"
    assert hide_upstream("http://orders/api/orders", origins) == "/api/orders"  # port 80 implied
    assert hide_upstream("https://ai:443/api/ai", origins) == "/api/ai"
    # Relative and foreign URLs pass unchanged.
    assert hide_upstream("/api/products", origins) == "/api/products"
    assert hide_upstream("https://shop.example.com/x", origins) == "https://shop.example.com/x"
    headers = client_response_headers(
        [("Location", "http://127.0.0.1:8001/api/products"), ("Link", "</a>; rel=next")], origins
    )
    assert headers == [("Location", "/api/products"), ("Link", "</a>; rel=next")]


def test_the_gateways_budget_replaces_the_clients() -> None:
    out = _upstream([("X-Request-Timeout-Ms", "999999")], budget_seconds=2.5)
    assert out["x-request-timeout-ms"] == ["2500"]
    assert "x-request-timeout-ms" not in _upstream([("X-Request-Timeout-Ms", "10")])
