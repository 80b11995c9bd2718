"""The public contract of order-service (field names follow the seed README)."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from chassis.api import Money
from chassis.validation import Integer
from order_service.models import OrderStatus

# The same id rule as inventory-service, so a valid order line is always a valid reservation line.
PRODUCT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# Large-but-plausible quantities reach the stock rule (400 "Insufficient stock for product:
# ..." from inventory); only absurd ones are a 422 here.
MAX_QUANTITY = 1_000_000
MAX_UNIT_PRICE = Decimal("1000000.00")
# Hard ceiling; Settings.max_items_per_order may lower it.
MAX_ITEMS_PER_ORDER = 100
CENT = Decimal("0.01")
# orders.total_amount is NUMERIC(16, 2).
MAX_ORDER_TOTAL = Decimal("99999999999999.99")


def _no_control_characters(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


ProductId = Annotated[str, StringConstraints(pattern=PRODUCT_ID_PATTERN)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_characters),
]
# Integer: true/false are refused, never read as 1/0.
Quantity = Annotated[Integer, Field(ge=1, le=MAX_QUANTITY)]
UnitPrice = Annotated[
    Decimal,
    Field(gt=0, le=MAX_UNIT_PRICE, max_digits=12, decimal_places=2, examples=[999.99]),
    AfterValidator(_cents),
]


class OrderItemCreate(BaseModel):
    # Unknown fields are ignored, as the original design did (not a 422).
    model_config = ConfigDict(extra="ignore")

    product_id: ProductId
    product_name: Name
    quantity: Quantity
    unit_price: UnitPrice


class OrderCreate(BaseModel):
    # Unknown fields are ignored, as the original design did (not a 422).
    model_config = ConfigDict(extra="ignore")

    customer_name: Name
    customer_email: Annotated[EmailStr, StringConstraints(max_length=320)]
    items: list[OrderItemCreate] = Field(min_length=1, max_length=MAX_ITEMS_PER_ORDER)

    @model_validator(mode="after")
    def _each_product_once(self) -> "OrderCreate":
        seen: set[str] = set()
        for line in self.items:
            if line.product_id in seen:
                raise ValueError(f"product {line.product_id} appears more than once in items")
            seen.add(line.product_id)
        total = sum((line.unit_price * line.quantity for line in self.items), Decimal(0))
        if total > MAX_ORDER_TOTAL:
            raise ValueError(f"the order total {total} is above {MAX_ORDER_TOTAL}")
        return self


class StatusUpdate(BaseModel):
    # Unknown fields are ignored, as the original design did (not a 422).
    model_config = ConfigDict(extra="ignore")

    status: OrderStatus


class OrderItem(BaseModel):
    id: uuid.UUID
    product_id: str
    product_name: str
    quantity: int
    unit_price: Money
    total_price: Money


class Order(BaseModel):
    id: uuid.UUID
    order_number: str = Field(examples=["ORD-20261126-7K3QZ9AB"])
    customer_name: str
    customer_email: str
    total_amount: Money
    status: OrderStatus
    items: list[OrderItem]
    created_at: datetime
    updated_at: datetime
