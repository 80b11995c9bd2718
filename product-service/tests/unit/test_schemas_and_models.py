"""The public contract and the stored form: bad input is refused before MongoDB sees it,
and prices and times round-trip exactly."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from product_service.models import cents_to_price, format_time, parse_time, price_to_cents
from product_service.schemas import ProductCreate, ProductUpdate


def _create(**overrides: object) -> ProductCreate:
    body: dict = {"name": "Lamp", "price": "19.99", "category": "Home"}
    body.update(overrides)
    return ProductCreate.model_validate(body)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("999.99", "999.99"), (19.9, "19.90"), (1000, "1000.00"), ("0.01", "0.01")],
)
def test_prices_become_exact_cents(raw: object, expected: str) -> None:
    price = _create(price=raw).price
    assert str(price) == expected
    assert cents_to_price(price_to_cents(price)) == Decimal(expected)
    assert str(cents_to_price(price_to_cents(price))) == expected


@pytest.mark.parametrize("price", [-1, 0, "1.005", "NaN", "Infinity", "10000000.01"])
def test_bad_prices_are_refused(price: object) -> None:
    with pytest.raises(ValidationError):
        _create(price=price)


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": ""},
        {"name": "  "},
        {"name": "a\x00b"},
        {"name": "\ud800"},
        {"category": ""},
        {"stock_quantity": -1},
        {"tags": [""]},
        {"tags": ["x"] * 21},
        {"image_url": "ftp://x"},
        {"description": "bell\x07"},
    ],
)
def test_bad_fields_are_refused(overrides: dict) -> None:
    with pytest.raises(ValidationError):
        _create(**overrides)


def test_text_is_trimmed_tags_deduplicated_and_description_keeps_line_breaks() -> None:
    product = _create(name="  Lamp ", tags=[" a", "a", "b"], description="one\ntwo")
    assert (product.name, product.tags, product.description) == ("Lamp", ["a", "b"], "one\ntwo")


def test_unknown_fields_are_ignored_as_in_the_original_design() -> None:
    assert "extra" not in _create(extra=1).model_dump()
    assert ProductUpdate.model_validate({"price": 5, "colour": "red"}).changes() == {
        "price": Decimal("5.00")
    }


def test_update_ignores_null_fields_and_may_be_empty_for_the_service_to_refuse() -> None:
    assert ProductUpdate().changes() == {}
    assert ProductUpdate.model_validate({"price": None, "name": None}).changes() == {}
    assert ProductUpdate.model_validate({"description": None, "name": "x"}).changes() == {
        "name": "x"
    }
    assert ProductUpdate.model_validate({"description": ""}).changes() == {"description": ""}
    assert ProductUpdate.model_validate({"stock_quantity": 0}).changes() == {"stock_quantity": 0}


async def test_an_update_with_nothing_to_change_is_a_400() -> None:
    from chassis import BadRequest
    from product_service.config import Settings
    from product_service.service import ProductService

    service = ProductService(None, Settings())  # type: ignore[arg-type]
    for body in (None, ProductUpdate(), ProductUpdate.model_validate({"price": None})):
        with pytest.raises(BadRequest, match=r"^No fields to update$"):
            await service.update("65f1c0ffee0123456789abcd", body)


def test_times_round_trip_through_their_stored_text() -> None:
    moment = datetime(2026, 11, 25, 15, 21, 56, 256123, tzinfo=UTC)
    text = format_time(moment)
    assert text == "2026-11-25T15:21:56.256123Z"
    assert parse_time(text) == moment
    assert format_time(datetime(2026, 1, 2, tzinfo=UTC)) < text  # text order is time order
