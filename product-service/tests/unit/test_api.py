"""HTTP edge without servers: money rendering and the published contract."""

from decimal import Decimal

from product_service.api import ExactJSONResponse
from product_service.main import app


def test_prices_render_as_numbers_with_their_own_two_decimals() -> None:
    body = ExactJSONResponse({"price": Decimal("1000.00"), "p": [Decimal("0.10")]}).body
    assert body == b'{"price":1000.00,"p":[0.10]}'


def test_every_seed_endpoint_is_in_the_openapi_document() -> None:
    paths = app.openapi()["paths"]
    assert set(paths["/api/products"]) == {"get", "post"}
    assert set(paths["/api/products/search"]) == {"get"}
    assert set(paths["/api/products/{product_id}"]) == {"get", "put", "delete"}
