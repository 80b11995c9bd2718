"""Who may do what: admin writes, customers and their own orders."""

import pytest

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
from api_gateway.identity import Identity, identity_from_claims

ADMIN = Identity("a-1", "admin@example.com", "admin", frozenset({"admin"}))
CUSTOMER = Identity("c-1", "customer@example.com", "customer", frozenset({"customer"}))
NOBODY = Identity("n-1", "n@example.com", "n", frozenset())


@pytest.mark.parametrize(
    ("method", "path", "segment"),
    [
        ("POST", "/api/products", "products"),
        ("PUT", "/api/products/abc", "products"),
        ("DELETE", "/api/products/abc", "products"),
        ("POST", "/api/inventory", "inventory"),
        ("PATCH", "/api/inventory/p1/restock", "inventory"),
        ("PATCH", "/api/orders/5/status", "orders"),
        ("POST", "/api/search/reindex", "search"),
    ],
)
def test_writes_need_the_admin_role(method: str, path: str, segment: str) -> None:
    assert isinstance(decide(CUSTOMER, method, path, segment), Deny)
    assert decide(ADMIN, method, path, segment) == Allow()


@pytest.mark.parametrize(
    ("method", "path", "segment"),
    [
        ("GET", "/api/products", "products"),
        ("GET", "/api/inventory/p1", "inventory"),
        ("GET", "/api/search", "search"),
        ("POST", "/api/ai/chat", "ai"),
    ],
)
def test_customers_read_the_catalog_and_place_orders(method: str, path: str, segment: str) -> None:
    assert decide(CUSTOMER, method, path, segment) == Allow()


def test_a_customer_listing_orders_gets_only_its_own() -> None:
    assert decide(CUSTOMER, "GET", "/api/orders", "orders") == Rewrite(
        "/api/orders/user/customer@example.com"
    )
    assert decide(CUSTOMER, "GET", "/api/orders/user/customer@example.com", "orders") == Allow()
    assert isinstance(
        decide(CUSTOMER, "GET", "/api/orders/user/someone@example.com", "orders"), Deny
    )


def test_one_order_and_its_cancel_need_ownership() -> None:
    assert decide(CUSTOMER, "GET", "/api/orders/o-1", "orders") == RequireOrderOwner("o-1")
    assert decide(CUSTOMER, "PATCH", "/api/orders/o-1/cancel", "orders") == RequireOrderOwner("o-1")
    assert decide(ADMIN, "GET", "/api/orders/o-1", "orders") == Allow()


def test_orders_need_the_customer_role_and_an_email() -> None:
    assert isinstance(decide(NOBODY, "GET", "/api/orders", "orders"), Deny)
    no_email = Identity("c-2", None, "c", frozenset({"customer"}))
    assert isinstance(decide(no_email, "GET", "/api/orders", "orders"), Deny)


def test_ownership_compares_emails_case_insensitively() -> None:
    assert owns(CUSTOMER, {"customer_email": "Customer@Example.com"})
    assert not owns(CUSTOMER, {"customer_email": "other@example.com"})
    assert not owns(CUSTOMER, ["not", "an", "order"])


def test_roles_come_from_realm_access() -> None:
    identity = identity_from_claims({"sub": "x", "realm_access": {"roles": ["admin", 3]}})
    assert identity.roles == frozenset({"admin"})
    assert identity_from_claims({"sub": "x"}).roles == frozenset()


def test_a_customer_placing_an_order_must_use_its_own_email() -> None:
    assert decide(CUSTOMER, "POST", "/api/orders", "orders") == RequireOwnEmail()
    assert places_own_order(CUSTOMER, b'{"customer_email": "CUSTOMER@example.com"}')
    assert not places_own_order(CUSTOMER, b'{"customer_email": "victim@example.com"}')
    assert not places_own_order(CUSTOMER, b'{"customer_email": 42}')
    # Not an order at all: order-service's validation answers it (422), not the gateway.
    assert places_own_order(CUSTOMER, b"{not json")
    assert places_own_order(CUSTOMER, b"[]")
