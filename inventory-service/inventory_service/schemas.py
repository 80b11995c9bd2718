"""The public contract of inventory-service (field names follow the seed README)."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from chassis.validation import Integer
from inventory_service.models import ReservationStatus

# Ids are what other services use as keys (Mongo ObjectIds, "prod-001"): printable, no spaces.
PRODUCT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# One request never moves more than this; BIGINT columns keep sums far from overflow.
MAX_QUANTITY = 1_000_000_000
MAX_ITEMS_PER_RESERVATION = 100


def _no_control_characters(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


ProductId = Annotated[str, StringConstraints(pattern=PRODUCT_ID_PATTERN)]
ProductName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_characters),
]
# Integer: true/false are refused, never read as 1/0.
Quantity = Annotated[Integer, Field(ge=1, le=MAX_QUANTITY)]
StockLevel = Annotated[Integer, Field(ge=0, le=MAX_QUANTITY)]


class InventoryCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    product_id: ProductId
    product_name: ProductName
    quantity: StockLevel
    low_stock_threshold: StockLevel | None = Field(
        default=None, description="Alert when available stock drops below this (default 10)."
    )


class InventoryUpdate(BaseModel):
    """PUT: only the fields given change; nulls are ignored, and nothing to change is a 400
    "No fields to update" (service layer), as the original design did."""

    model_config = ConfigDict(extra="ignore")

    product_name: ProductName | None = None
    quantity: StockLevel | None = None
    low_stock_threshold: StockLevel | None = None


class StockChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    quantity: Quantity


class InventoryItem(BaseModel):
    id: uuid.UUID
    product_id: str
    product_name: str
    quantity: int
    reserved_qty: int
    available_qty: int
    low_stock_threshold: int
    created_at: datetime
    updated_at: datetime


class StockCheck(BaseModel):
    product_id: str
    requested: int
    in_stock: bool
    available_qty: int


class Message(BaseModel):
    message: str


class ReservationLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    product_id: ProductId
    quantity: Quantity


class ReservationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reservation_id: uuid.UUID = Field(description="The order id: retrying with it is safe.")
    items: list[ReservationLine] = Field(min_length=1, max_length=MAX_ITEMS_PER_RESERVATION)
    ttl_seconds: Integer | None = Field(
        default=None, ge=1, le=86_400, description="Hold time before the stock is given back."
    )

    @model_validator(mode="after")
    def _each_product_once(self) -> "ReservationRequest":
        seen: set[str] = set()
        for line in self.items:
            if line.product_id in seen:
                raise ValueError(f"product {line.product_id} appears more than once in items")
            seen.add(line.product_id)
        return self


class Reservation(BaseModel):
    reservation_id: uuid.UUID
    status: ReservationStatus
    items: list[ReservationLine]
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
