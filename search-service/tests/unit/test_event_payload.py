"""product-updated data: what is accepted, what is poison."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from chassis.events import decode_event, encode_event, new_event
from contracts import PRODUCT_UPDATED
from contracts import ProductUpdated as ProductUpdatedContract
from search_service.events import ProductUpdated
from search_service.models import CatalogProduct, product_document, tombstone_document

PID = "65a1f0c2e4b0a1b2c3d4e5f6"


def _product(**changes: object) -> dict[str, object]:
    return {
        "id": PID,
        "name": "Desk Lamp",
        "description": "Warm light",
        "price": Decimal("19.99"),
        "category": "Home",
        "tags": ["Light", "desk"],
        "stock_quantity": 5,
        "image_url": None,
        "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-21T10:00:00+02:00",
        "version": 3,
        **changes,
    }


def test_upsert_with_its_product_is_accepted() -> None:
    update = ProductUpdated.model_validate(
        {"op": "upsert", "product_id": PID, "version": 3, "product": _product()}
    )
    assert update.product is not None
    assert update.product.name == "Desk Lamp"


def test_delete_needs_no_product() -> None:
    update = ProductUpdated.model_validate({"op": "delete", "product_id": PID, "version": 4})
    assert update.product is None


@pytest.mark.parametrize(
    "data",
    [
        {"op": "upsert", "product_id": PID, "version": 1},
        {
            "op": "upsert",
            "product_id": PID,
            "version": 1,
            "product": _product(id="75a1f0c2e4b0a1b2c3d4e5f6"),
        },
        {"op": "rename", "product_id": PID, "version": 1},
        {"op": "delete", "product_id": "prod-1", "version": 1},
        {"op": "delete", "product_id": PID, "version": -1},
        {"op": "delete", "product_id": PID},
        {"op": "upsert", "product_id": PID, "version": 1, "product": _product(price="cheap")},
        {"op": "upsert", "product_id": PID, "version": 1, "product": _product(price=-1)},
        {"op": "upsert", "product_id": PID, "version": 1, "product": _product(name="  ")},
    ],
    ids=[
        "upsert-without-product",
        "id-mismatch",
        "unknown-op",
        "not-an-objectid",
        "negative-version",
        "no-version",
        "price-not-a-number",
        "negative-price",
        "blank-name",
    ],
)
def test_bad_event_data_is_rejected(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ProductUpdated.model_validate(data)


def test_document_keeps_display_names_and_lowercases_filter_keys() -> None:
    product = CatalogProduct.model_validate(_product(price=Decimal("1999.98"), description=None))
    doc = product_document(product, 7)
    assert doc["price"] == 1999.98
    assert doc["category"] == "Home"
    assert doc["category_key"] == "home"
    assert doc["tags"] == ["Light", "desk"]
    assert doc["tag_keys"] == ["desk", "light"]
    assert doc["description"] == ""
    assert doc["version"] == 7
    assert doc["deleted"] is False
    assert doc["updated_at"] == "2026-11-21T08:00:00+00:00"


def test_delete_becomes_a_tombstone_with_its_version() -> None:
    assert tombstone_document(PID, 9) == {"product_id": PID, "version": 9, "deleted": True}


@pytest.mark.parametrize("example", PRODUCT_UPDATED.examples, ids=lambda e: str(e["op"]))
def test_every_example_of_the_contract_is_accepted(example: dict[str, object]) -> None:
    """Contract test (consumer side): search-service reads every example product-updated the
    contract publishes, through the envelope as it travels."""
    wire = decode_event(
        encode_event(
            new_event(PRODUCT_UPDATED.name, "product-service", str(example["product_id"]), example)
        )
    )
    update = ProductUpdated.model_validate(wire.data)
    assert update.op == example["op"]
    assert isinstance(update, ProductUpdatedContract)
