"""Issue 10, defects 5, 7 and 8 at the gateway: customers' notifications and reservations,
hostile order bodies, oversized headers."""

import httpx
import pytest

from api_gateway.access import (
    Allow,
    Deny,
    RequireOrderOwner,
    Rewrite,
    decide,
    places_own_order,
)
from api_gateway.config import Settings
from api_gateway.identity import Identity
from api_gateway.main import build_app
from chassis.validation import HostileJSON

ADMIN = Identity("a-1", "admin@example.com", "admin", frozenset({"admin"}))
CUSTOMER = Identity("c-1", "customer@example.com", "customer", frozenset({"customer"}))
NO_EMAIL = Identity("c-2", None, "c2", frozenset({"customer"}))


def test_a_customer_without_email_filter_reads_only_its_own_notifications() -> None:
    decision = decide(CUSTOMER, "GET", "/api/notifications", "notifications", "")
    assert decision == Rewrite("/api/notifications", "email=customer%40example.com")


def test_a_customer_asking_for_its_own_notifications_keeps_its_other_parameters() -> None:
    decision = decide(
        CUSTOMER,
        "GET",
        "/api/notifications",
        "notifications",
        "limit=5&email=Customer%40Example.com",
    )
    assert decision == Rewrite("/api/notifications", "limit=5&email=customer%40example.com")


@pytest.mark.parametrize(
    "query",
    [
        "email=victim%40example.com",
        "email=customer%40example.com&email=victim%40example.com",
        "email=",
    ],
)
def test_a_customer_cannot_read_another_customers_notifications(query: str) -> None:
    assert isinstance(decide(CUSTOMER, "GET", "/api/notifications", "notifications", query), Deny)


def test_notifications_need_an_email_claim_and_admins_see_all() -> None:
    assert isinstance(decide(NO_EMAIL, "GET", "/api/notifications", "notifications", ""), Deny)
    assert decide(ADMIN, "GET", "/api/notifications", "notifications", "") == Allow()
    assert (
        decide(ADMIN, "GET", "/api/notifications", "notifications", "email=victim%40example.com")
        == Allow()
    )


def test_a_reservation_is_shown_only_to_its_orders_owner() -> None:
    path = "/api/inventory/reservations/6f1c7c1e-3a55-4f8e-9a53-3d8a4b0c8f10"
    assert decide(CUSTOMER, "GET", path, "inventory") == RequireOrderOwner(
        "6f1c7c1e-3a55-4f8e-9a53-3d8a4b0c8f10"
    )
    assert decide(ADMIN, "GET", path, "inventory") == Allow()
    # Stock levels stay public.
    assert decide(CUSTOMER, "GET", "/api/inventory/p-1", "inventory") == Allow()


@pytest.mark.parametrize(
    "body",
    [
        b'{"customer_email": "customer@example.com", "items": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}",
        b'{"customer_email": "customer@example.com", "total": NaN}',
        b'{"customer_email": "customer@example.com", "total": 1e400}',
        b'{"customer_email": "customer@example.com", "customer_name": "\\ud800"}',
    ],
)
def test_a_hostile_order_body_is_refused_not_a_recursion_error(body: bytes) -> None:
    with pytest.raises(HostileJSON):
        places_own_order(CUSTOMER, body)


async def test_headers_past_the_limit_are_431_and_never_forwarded() -> None:
    app = build_app(
        Settings(
            rate_limit_enabled=False,
            max_request_header_bytes=4096,
            product_service_url="http://127.0.0.1:9",
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
        big = await client.get("/api/products", headers={"x-filler": "a" * 8192})
        many = await client.get(
            "/api/products", headers=[(f"x-h{i}", "b" * 100) for i in range(60)]
        )
        small = await client.get("/health", headers={"x-filler": "a" * 1000})
    assert big.status_code == 431
    assert "4096" in big.json()["detail"]
    assert many.status_code == 431
    assert small.status_code == 200
