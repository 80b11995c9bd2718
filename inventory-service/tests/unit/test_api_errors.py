"""HTTP edge: malformed reservation ids are a 400 sentence, not a 500."""

import pytest

from chassis import BadRequest
from inventory_service.api import parse_reservation_id


async def test_malformed_reservation_id_is_a_clear_400() -> None:
    with pytest.raises(BadRequest, match="Invalid reservation id: 'order-123' is not a UUID"):
        await parse_reservation_id(reservation_id="order-123")


async def test_uuid_reservation_id_is_parsed() -> None:
    parsed = await parse_reservation_id(reservation_id="5f8f7f5e-5b1c-4a4b-9c1e-7a1d2b3c4d5e")
    assert str(parsed).startswith("5f8f7f5e")
