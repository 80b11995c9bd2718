"""The storefront through the gateway with authentication on, as deployed: real services as
processes, the local OIDC provider, the broker, Elasticsearch, MongoDB, PostgreSQL and the SMTP
sink. An admin stocks a product; a customer finds it, orders it, gets the email, cancels it;
another customer cannot see that order."""

import time
from collections.abc import Callable

import httpx

from devstack.oidc import password_grant


def _eventually(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.2)


def test_admin_stocks_customer_orders_and_cancels_through_the_secured_gateway(
    secured_gateway_url: str, local_oidc: str, local_smtp
) -> None:
    admin, customer, other = (
        {"Authorization": f"Bearer {password_grant(local_oidc, user)}"}
        for user in ("admin", "customer", "customer2")
    )
    with httpx.Client(base_url=secured_gateway_url, timeout=15) as gateway:
        assert gateway.get("/api/products").status_code == 401  # no token, no catalog

        # The admin creates a product and its stock; a customer may not.
        product = {
            "name": "E2E Aurora Desk Lamp",
            "description": "Warm dimmable light",
            "price": 49.90,
            "category": "Home",
            "tags": ["lamp", "e2e"],
            "stock_quantity": 5,
        }
        assert gateway.post("/api/products", json=product, headers=customer).status_code == 403
        created = gateway.post("/api/products", json=product, headers=admin)
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]
        stocked = gateway.post(
            "/api/inventory",
            headers=admin,
            json={"product_id": product_id, "product_name": product["name"], "quantity": 5},
        )
        assert stocked.status_code == 201, stocked.text

        # The product reaches search through product-updated.
        def findable() -> bool:
            hits = gateway.get("/api/search", params={"q": "aurora lamp"}, headers=customer)
            return hits.status_code == 200 and any(
                hit["id"] == product_id for hit in hits.json()["hits"]
            )

        _eventually(findable, "the new product showing up in search")

        # The customer orders two: CONFIRMED at once, stock reserved, confirmation emailed.
        placed = gateway.post(
            "/api/orders",
            headers=customer,
            json={
                "customer_name": "Demo Customer",
                "customer_email": "customer@example.com",
                "items": [
                    {
                        "product_id": product_id,
                        "product_name": product["name"],
                        "quantity": 2,
                        "unit_price": 49.90,
                    }
                ],
            },
        )
        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert order["status"] == "CONFIRMED"
        assert order["total_amount"] == 99.80
        stock = gateway.get(f"/api/inventory/{product_id}", headers=customer).json()
        assert (stock["reserved_qty"], stock["available_qty"]) == (2, 3)

        def emailed(subject: str) -> Callable[[], bool]:
            return lambda: any(
                subject == str(mail.message["Subject"])
                for mail in local_smtp.messages(to="customer@example.com")
            )

        _eventually(emailed(f"Order confirmed: {order['order_number']}"), "confirmation email")

        # Another customer can neither read nor cancel it; the owner can read it.
        assert gateway.get(f"/api/orders/{order['id']}", headers=other).status_code == 403
        assert gateway.patch(f"/api/orders/{order['id']}/cancel", headers=other).status_code == 403
        assert gateway.get(f"/api/orders/{order['id']}", headers=customer).status_code == 200
        theirs = gateway.get("/api/orders", headers=other)
        assert all(o["id"] != order["id"] for o in theirs.json())

        # The owner cancels: stock released (inventory consumes order-cancelled), email sent.
        cancelled = gateway.patch(f"/api/orders/{order['id']}/cancel", headers=customer)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "CANCELLED"

        def released() -> bool:
            item = gateway.get(f"/api/inventory/{product_id}", headers=customer).json()
            return bool(item["reserved_qty"] == 0 and item["available_qty"] == 5)

        _eventually(released, "the reserved stock coming back")
        _eventually(emailed(f"Order cancelled: {order['order_number']}"), "cancellation email")
