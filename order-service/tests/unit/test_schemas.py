"""The request contract: money exact, emails and bounds validated before anything runs."""

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from order_service.schemas import MAX_ITEMS_PER_ORDER, OrderCreate
from order_service.service import order_total, request_fingerprint


def _order(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "items": [
            {"product_id": "prod-001", "product_name": "Phone", "quantity": 2, "unit_price": 999.99}
        ],
    }
    body.update(changes)
    return body


def test_total_is_exact_decimal_not_a_float_sum() -> None:
    request = OrderCreate.model_validate(_order())
    assert order_total(request) == Decimal("1999.98")
    assert str(order_total(request)) == "1999.98"


def test_many_small_prices_add_up_exactly() -> None:
    items = [
        {"product_id": f"p{n}", "product_name": "Gum", "quantity": 3, "unit_price": 0.1}
        for n in range(10)
    ]
    assert order_total(OrderCreate.model_validate(_order(items=items))) == Decimal("3.00")


@pytest.mark.parametrize(
    "changes",
    [
        {"items": []},
        {"customer_email": "not-an-email"},
        {"customer_email": "a@b"},
        {"customer_name": "   "},
        {"customer_name": "bad\x00name"},
        {"items": [{"product_id": "p", "product_name": "x", "quantity": 0, "unit_price": 1}]},
        {"items": [{"product_id": "p", "product_name": "x", "quantity": 1, "unit_price": 0}]},
        {"items": [{"product_id": "p", "product_name": "x", "quantity": 1, "unit_price": -5}]},
        {"items": [{"product_id": "p", "product_name": "x", "quantity": 1, "unit_price": 1.005}]},
        {"items": [{"product_id": "p", "product_name": "x", "quantity": 10**9, "unit_price": 1}]},
        {"items": [{"product_id": "p p", "product_name": "x", "quantity": 1, "unit_price": 1}]},
        {"items": [{"product_id": "p", "product_name": "x", "quantity": 1, "unit_price": "NaN"}]},
        {
            "items": [
                {"product_id": "p", "product_name": "x", "quantity": 1, "unit_price": 1},
                {"product_id": "p", "product_name": "x", "quantity": 2, "unit_price": 1},
            ]
        },
        {
            "items": [
                {"product_id": f"p{n}", "product_name": "x", "quantity": 1, "unit_price": 1}
                for n in range(MAX_ITEMS_PER_ORDER + 1)
            ]
        },
        {
            "items": [
                {
                    "product_id": f"p{n}",
                    "product_name": "x",
                    "quantity": 1_000_000,
                    "unit_price": 1_000_000,
                }
                for n in range(100)
            ]
        },
    ],
)
def test_invalid_orders_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OrderCreate.model_validate(_order(**changes))


def test_same_order_spelled_differently_has_the_same_fingerprint() -> None:
    a = OrderCreate.model_validate(_order())
    b = OrderCreate.model_validate(
        _order(
            items=[
                {
                    "unit_price": "999.990",
                    "quantity": 2,
                    "product_name": "Phone",
                    "product_id": "prod-001",
                }
            ]
        )
    )
    assert request_fingerprint(a) == request_fingerprint(b)
    c = OrderCreate.model_validate(_order(customer_name="Someone Else"))
    assert request_fingerprint(a) != request_fingerprint(c)


def test_unknown_fields_are_ignored_and_large_plausible_quantities_pass() -> None:
    """As in the original design: extra fields are ignored; a quantity far above any stock
    is for inventory's stock rule (400 Insufficient stock), not a 422 here."""
    order = OrderCreate.model_validate(
        _order(
            extra="field",
            items=[
                {
                    "product_id": "prod-001",
                    "product_name": "Phone",
                    "quantity": 50_000,
                    "unit_price": 999.99,
                    "note": "gift",
                }
            ],
        )
    )
    assert order.items[0].quantity == 50_000
    assert "extra" not in order.model_dump()
