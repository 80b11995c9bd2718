"""Rules that need no servers: status moves, order numbers, event payloads, money rendering."""

import json
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chassis import BadRequest
from chassis.events import decode_event, encode_event
from chassis.exact_json import ExactJSONResponse
from contracts import ORDER_CANCELLED, ORDER_PLACED, ORDER_STATUS_CHANGED, OrderCancelled
from order_service.api import parse_email, parse_order_id
from order_service.models import OrderStatus
from order_service.schemas import Order, OrderItem
from order_service.service import (
    check_transition,
    event_data,
    new_order_number,
    status_changed_data,
)


def test_order_number_has_the_seed_shape() -> None:
    number = new_order_number(datetime(2026, 11, 26, tzinfo=UTC))
    assert re.fullmatch(r"ORD-20261126-[A-Z0-9]{8}", number)
    assert len({new_order_number() for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (OrderStatus.CONFIRMED, OrderStatus.SHIPPED),
        (OrderStatus.SHIPPED, OrderStatus.DELIVERED),
        (OrderStatus.PENDING, OrderStatus.CONFIRMED),
        (OrderStatus.CONFIRMED, OrderStatus.CANCELLED),
        (OrderStatus.PENDING, OrderStatus.CANCELLED),
    ],
)
def test_forward_moves_are_allowed(current: OrderStatus, wanted: OrderStatus) -> None:
    check_transition(current, wanted)


@pytest.mark.parametrize(
    ("current", "wanted", "message"),
    [
        (OrderStatus.SHIPPED, OrderStatus.CANCELLED, "Cannot cancel order with status SHIPPED"),
        (OrderStatus.DELIVERED, OrderStatus.CANCELLED, "Cannot cancel order with status DELIVERED"),
        (OrderStatus.SHIPPED, OrderStatus.CONFIRMED, "from SHIPPED to CONFIRMED"),
        (OrderStatus.CONFIRMED, OrderStatus.DELIVERED, "from CONFIRMED to DELIVERED"),
        (OrderStatus.CANCELLED, OrderStatus.SHIPPED, "from CANCELLED to SHIPPED"),
        (OrderStatus.SHIPPED, OrderStatus.SHIPPED, "from SHIPPED to SHIPPED"),
    ],
)
def test_backward_or_skipping_moves_are_refused(
    current: OrderStatus, wanted: OrderStatus, message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        check_transition(current, wanted)


def _order() -> Order:
    now = datetime.now(UTC)
    return Order(
        id=uuid.uuid4(),
        order_number="ORD-20261126-ABCDEFGH",
        customer_name="Ada",
        customer_email="ada@example.com",
        total_amount=Decimal("1999.98"),
        status=OrderStatus.CONFIRMED,
        items=[
            OrderItem(
                id=uuid.uuid4(),
                product_id="prod-001",
                product_name="Phone",
                quantity=2,
                unit_price=Decimal("999.99"),
                total_price=Decimal("1999.98"),
            )
        ],
        created_at=now,
        updated_at=now,
    )


def test_order_placed_event_carries_exact_money_and_items() -> None:
    order = _order()
    event = ORDER_PLACED.event(event_data(order), source="order-service", subject=order.id)
    raw = encode_event(event)
    assert b'"total_amount":1999.98' in raw
    data = decode_event(raw).data
    assert data["order_id"] == str(order.id)
    assert data["total_amount"] == Decimal("1999.98")
    assert data["items"] == [
        {
            "product_id": "prod-001",
            "product_name": "Phone",
            "quantity": 2,
            "unit_price": Decimal("999.99"),
        }
    ]


def test_reply_renders_money_as_numbers_with_two_decimals() -> None:
    body = ExactJSONResponse({"a": Decimal("1999.98"), "b": Decimal("10.00"), "c": "x"}).body
    assert body == b'{"a":1999.98,"b":10.00,"c":"x"}'
    assert json.loads(body)["a"] == 1999.98


async def test_malformed_order_id_is_a_clear_400() -> None:
    with pytest.raises(BadRequest, match="Invalid order id: 'order-123' is not a UUID"):
        await parse_order_id(order_id="order-123")


def test_malformed_email_in_path_is_a_clear_400() -> None:
    with pytest.raises(BadRequest, match="Invalid email address"):
        parse_email("nobody")
    assert parse_email("Ada@Example.com") == "Ada@example.com"


def test_every_order_event_the_producer_writes_follows_its_contract() -> None:
    """Contract test (producer side): the bytes order-service publishes parse with the model
    every consumer uses, and carry the contract's version."""
    order = _order()
    cancelled = order.model_copy(update={"status": OrderStatus.CANCELLED})
    produced = [
        (ORDER_PLACED, event_data(order)),
        (ORDER_CANCELLED, event_data(cancelled, OrderCancelled)),
        (ORDER_STATUS_CHANGED, status_changed_data(cancelled, OrderStatus.CONFIRMED)),
    ]
    for contract, data in produced:
        event = decode_event(
            encode_event(contract.event(data, source="order-service", subject=order.id))
        )
        assert event.type == contract.name
        assert event.dataschema == contract.dataschema
        assert contract.parse(event.data) == data
    changed = decode_event(
        encode_event(
            ORDER_STATUS_CHANGED.event(
                status_changed_data(cancelled, OrderStatus.CONFIRMED), source="order-service"
            )
        )
    )
    assert changed.data["from"] == "CONFIRMED"
    assert changed.data["to"] == "CANCELLED"
