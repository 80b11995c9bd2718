"""Validation of the public contract: bad input is refused before it reaches the database."""

import uuid

import pytest
from pydantic import ValidationError

from inventory_service.schemas import InventoryCreate, InventoryUpdate, ReservationRequest


@pytest.mark.parametrize("product_id", ["prod-001", "65f1c0ffee0123456789abcd", "sku:A.1_b"])
def test_realistic_product_ids_are_accepted(product_id: str) -> None:
    assert (
        InventoryCreate(product_id=product_id, product_name="x", quantity=0).product_id
        == product_id
    )


@pytest.mark.parametrize("product_id", ["", "has space", "-leading-dash", "a" * 129, "nul\x00"])
def test_malformed_product_ids_are_refused(product_id: str) -> None:
    with pytest.raises(ValidationError):
        InventoryCreate(product_id=product_id, product_name="x", quantity=1)


def test_names_are_trimmed_and_control_characters_refused() -> None:
    assert (
        InventoryCreate(product_id="p", product_name="  Lamp ", quantity=1).product_name == "Lamp"
    )
    with pytest.raises(ValidationError, match="control characters"):
        InventoryCreate(product_id="p", product_name="La\x00mp", quantity=1)


@pytest.mark.parametrize("quantity", [-1, 1_000_000_001])
def test_quantities_out_of_range_are_refused(quantity: int) -> None:
    with pytest.raises(ValidationError):
        InventoryCreate(product_id="p", product_name="x", quantity=quantity)


def test_update_ignores_nulls_and_leaves_an_empty_one_to_the_service() -> None:
    assert InventoryUpdate().model_dump(exclude_none=True) == {}
    assert InventoryUpdate.model_validate({"quantity": None}).model_dump(exclude_none=True) == {}
    assert InventoryUpdate(quantity=0).quantity == 0


async def test_an_update_with_nothing_to_change_is_a_400() -> None:
    from chassis import BadRequest
    from inventory_service.config import Settings
    from inventory_service.service import InventoryService

    service = InventoryService(repository=None, settings=Settings())  # type: ignore[arg-type]
    for body in (None, InventoryUpdate(), InventoryUpdate.model_validate({"quantity": None})):
        with pytest.raises(BadRequest, match=r"^No fields to update$"):
            await service.update_item("p", body)


def test_unknown_fields_are_ignored_as_in_the_original_design() -> None:
    item = InventoryCreate.model_validate(
        {"product_id": "p", "product_name": "x", "quantity": 1, "q": 2}
    )
    assert "q" not in item.model_dump()


def test_reservation_lists_each_product_once() -> None:
    with pytest.raises(ValidationError, match="appears more than once"):
        ReservationRequest(
            reservation_id=uuid.uuid4(),
            items=[{"product_id": "p", "quantity": 1}, {"product_id": "p", "quantity": 2}],
        )


def test_reservation_needs_items_and_a_sane_ttl() -> None:
    with pytest.raises(ValidationError):
        ReservationRequest(reservation_id=uuid.uuid4(), items=[])
    with pytest.raises(ValidationError):
        ReservationRequest(
            reservation_id=uuid.uuid4(), items=[{"product_id": "p", "quantity": 1}], ttl_seconds=0
        )
