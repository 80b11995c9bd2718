"""Booleans are not integers (issue 10, defect 10): `"quantity": true` must not order 1 unit."""

import pytest
from pydantic import ValidationError

from order_service.schemas import OrderItemCreate


@pytest.mark.parametrize("value", ["true", "false"])
def test_quantity_refuses_booleans(value: str) -> None:
    with pytest.raises(ValidationError):
        OrderItemCreate.model_validate_json(
            '{"product_id": "p-1", "product_name": "Pen", "unit_price": 1.5, "quantity": '
            + value
            + "}"
        )


def test_an_integer_quantity_passes() -> None:
    item = OrderItemCreate.model_validate_json(
        '{"product_id": "p-1", "product_name": "Pen", "unit_price": 1.5, "quantity": 2}'
    )
    assert item.quantity == 2
