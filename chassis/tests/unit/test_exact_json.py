"""dumps_exact: money keeps its digits, in one pass, and nothing in the data can pass for the
tokens it uses on the way."""

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum

import pytest
from pydantic import BaseModel

from chassis.exact_json import dumps_exact, to_json_ready


class Colour(Enum):
    RED = "red"


class Line(BaseModel):
    price: Decimal
    at: datetime


def test_decimals_are_written_with_their_own_digits() -> None:
    text = dumps_exact({"a": Decimal("10.00"), "b": [Decimal("-0.50"), Decimal("1E+2")]})
    assert text == '{"a":10.00,"b":[-0.50,1E+2]}'


def test_a_string_shaped_like_a_token_stays_a_string() -> None:
    lookalike = "\x00exact:0123456789abcdef:0"
    text = dumps_exact({"note": lookalike, "price": Decimal("1.10")})
    assert json.loads(text) == {"note": lookalike, "price": 1.1}
    assert text.endswith('"price":1.10}')


def test_every_type_is_written_as_to_json_ready_renders_it() -> None:
    moment = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    document = {
        "at": moment,
        "day": date(2026, 12, 3),
        "id": ident,
        "colour": Colour.RED,
        "line": Line(price=Decimal("2.50"), at=moment),
        "tags": ("a", "b"),
        "empty": None,
        "flag": True,
        "ratio": 0.25,
    }
    text = dumps_exact(document)
    assert '"line":{"price":2.50,"at":"2026-12-03T16:00:00.000000Z"}' in text
    assert json.loads(text) == {
        "at": "2026-12-03T16:00:00.000000Z",
        "day": "2026-12-03",
        "id": str(ident),
        "colour": "red",
        "line": {"price": 2.5, "at": "2026-12-03T16:00:00.000000Z"},
        "tags": ["a", "b"],
        "empty": None,
        "flag": True,
        "ratio": 0.25,
    }
    # The same text as the two-step path (to_json_ready, then dumps_exact) always gave.
    assert dumps_exact(to_json_ready(document)) == text


def test_keys_that_are_not_strings_become_strings() -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert dumps_exact({ident: Decimal("3.00")}) == f'{{"{ident}":3.00}}'


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), float("nan")])
def test_what_json_cannot_hold_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="JSON"):
        dumps_exact({"x": bad})


def test_naive_datetimes_and_unknown_types_are_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        dumps_exact({"at": datetime(2026, 1, 1)})
    with pytest.raises(TypeError, match="cannot put object"):
        dumps_exact({"x": object()})
