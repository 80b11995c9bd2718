"""Booleans are not integers (issue 10, defect 10): `false` must not become a quantity of 0."""

import pytest
from pydantic import ValidationError

from inventory_service.schemas import (
    InventoryCreate,
    InventoryUpdate,
    ReservationRequest,
    StockChange,
)


@pytest.mark.parametrize(
    "body",
    [
        '{"product_id": "p-1", "product_name": "Pen", "quantity": false}',
        '{"product_id": "p-1", "product_name": "Pen", "quantity": 3, "low_stock_threshold": true}',
    ],
)
def test_create_refuses_booleans(body: str) -> None:
    with pytest.raises(ValidationError):
        InventoryCreate.model_validate_json(body)


def test_update_change_and_reservation_refuse_booleans() -> None:
    with pytest.raises(ValidationError):
        InventoryUpdate.model_validate_json('{"quantity": true}')
    with pytest.raises(ValidationError):
        StockChange.model_validate_json('{"quantity": true}')
    with pytest.raises(ValidationError):
        ReservationRequest.model_validate_json(
            '{"reservation_id": "6f1c7c1e-3a55-4f8e-9a53-3d8a4b0c8f10",'
            ' "items": [{"product_id": "p-1", "quantity": true}]}'
        )


def test_integers_still_pass() -> None:
    item = InventoryCreate.model_validate_json(
        '{"product_id": "p-1", "product_name": "Pen", "quantity": 0}'
    )
    assert item.quantity == 0
