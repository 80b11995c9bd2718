from decimal import Decimal

import pytest
from pydantic import ValidationError

from contracts import AiNotificationReady, InventoryLow
from contracts import OrderPlaced as OrderEvent
from notification_service.rendering import EmailRenderer, money, sanitize_html


def _order(**overrides: object) -> OrderEvent:
    data: dict[str, object] = {
        "order_id": "7d1c0f0e-2a6c-4c55-9d55-0c3f3a4b5c6d",
        "order_number": "ORD-20261125-ABCDEF12",
        "customer_name": "Yash Vyas",
        "customer_email": "yash@example.com",
        "total_amount": Decimal("2049.97"),
        "items": [
            {
                "product_id": "p1",
                "product_name": "iPhone 15 Pro",
                "quantity": 2,
                "unit_price": Decimal("999.99"),
            },
            {
                "product_id": "p2",
                "product_name": "USB-C Cable",
                "quantity": 1,
                "unit_price": Decimal("49.99"),
            },
        ],
    }
    data.update(overrides)
    return OrderEvent.model_validate(data)


def test_money_is_exact_with_two_decimals_and_thousands() -> None:
    assert money(Decimal("1999.98")) == "$1,999.98"
    assert money(Decimal("0.5")) == "$0.50"
    assert money(Decimal("2.005")) == "$2.01"


def test_confirmation_has_an_item_table_with_subtotals_and_the_total() -> None:
    email = EmailRenderer().order_confirmation(_order())
    assert email.to == "yash@example.com"
    assert email.subject == "Order confirmed: ORD-20261125-ABCDEF12"
    assert email.kind == "order-confirmation"
    assert "<table" in email.html
    assert email.html.count("<tr>") == 4  # header, two items, total
    assert "$1,999.98" in email.html  # 2 x 999.99
    assert "$2,049.97" in email.html
    assert "iPhone 15 Pro x 2 @ $999.99 = $1,999.98" in email.text
    assert "Total: $2,049.97" in email.text
    assert "<" not in email.text


def test_html_autoescapes_what_customers_typed() -> None:
    email = EmailRenderer().order_confirmation(
        _order(
            customer_name="<script>alert(1)</script>",
            items=[
                {"product_id": "p", "product_name": "<b>Lamp</b>", "quantity": 1, "unit_price": "5"}
            ],
        )
    )
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert "&lt;b&gt;Lamp&lt;/b&gt;" in email.html
    assert "<script>alert(1)</script>" in email.text  # plain text is not HTML


def test_cancellation_names_order_and_total() -> None:
    email = EmailRenderer().order_cancellation(_order())
    assert email.subject == "Order cancelled: ORD-20261125-ABCDEF12"
    assert "$2,049.97" in email.html
    assert "has been cancelled" in email.text


def test_low_stock_alert_goes_to_the_admin() -> None:
    alert = InventoryLow(product_id="p1", product_name="Desk Lamp", available_qty=3, threshold=10)
    email = EmailRenderer().inventory_low(alert, "ops@shop.local")
    assert email.to == "ops@shop.local"
    assert email.subject == "Low stock: Desk Lamp (3 left)"
    assert "threshold 10" in email.text


def test_ai_html_is_sanitised_to_the_allow_list() -> None:
    dirty = (
        '<p onclick="steal()">Hi <strong>Yash</strong></p><script>alert(1)</script>'
        '<img src="https://tracker.example/pixel.gif"><a href="javascript:alert(1)">x</a>'
        '<a href="https://shop.example/p/1">see</a><style>body{}</style><iframe></iframe>'
    )
    clean = sanitize_html(dirty)
    assert "<script" not in clean
    assert "onclick" not in clean
    assert "<img" not in clean
    assert "javascript:" not in clean
    assert "<style" not in clean
    assert "<iframe" not in clean
    assert "<strong>Yash</strong>" in clean
    assert 'href="https://shop.example/p/1"' in clean


def test_ai_follow_up_keeps_clean_tags_and_folds_a_wrapped_subject() -> None:
    note = AiNotificationReady(
        order_number="ORD-1",
        customer_email="y@example.com",
        subject="You might also like\r\n Bcc: victim@example.com",
        body_html="<p>Enjoy your <em>new phone</em>!</p><script>x()</script>",
        body_text="Enjoy your new phone!",
    )
    email = EmailRenderer().ai_follow_up(note)
    assert "\n" not in email.subject
    assert "<p>Enjoy your <em>new phone</em>!</p>" in email.html
    assert "<script" not in email.html
    assert email.text.startswith("Enjoy your new phone!")


def test_order_payload_rejects_header_injection_and_bad_email() -> None:
    with pytest.raises(ValidationError):
        _order(order_number="ORD-1\r\nBcc: x@example.com")
    with pytest.raises(ValidationError):
        _order(customer_email="not-an-address")
