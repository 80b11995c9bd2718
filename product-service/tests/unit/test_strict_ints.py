"""Booleans are not integers (issue 10, defect 10): `"stock_quantity": false` was a 201."""

import pytest
from pydantic import ValidationError

from product_service.schemas import ProductCreate


@pytest.mark.parametrize("value", ["false", "true"])
def test_stock_quantity_refuses_booleans(value: str) -> None:
    with pytest.raises(ValidationError):
        ProductCreate.model_validate_json(
            '{"name": "Pen", "price": 1.5, "category": "Office", "stock_quantity": ' + value + "}"
        )


def test_an_integer_stock_quantity_passes() -> None:
    product = ProductCreate.model_validate_json(
        '{"name": "Pen", "price": 1.5, "category": "Office", "stock_quantity": 4}'
    )
    assert product.stock_quantity == 4
