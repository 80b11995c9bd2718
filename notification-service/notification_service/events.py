"""The events notification-service consumes (DESIGN.md section 3) as typed payloads."""

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _one_line(value: str) -> str:
    # Values that end up in mail headers must not smuggle in another header.
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value.strip()


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class OrderItem(_Payload):
    product_id: str
    product_name: str
    quantity: int = Field(ge=1)
    unit_price: Decimal

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class OrderEvent(_Payload):
    """`order-placed` and `order-cancelled` share this shape."""

    order_id: str
    order_number: str
    customer_name: str
    customer_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)
    total_amount: Decimal
    items: list[OrderItem] = Field(default_factory=list)

    _single_line = field_validator("order_number", "customer_name")(_one_line)


class InventoryLow(_Payload):
    product_id: str
    product_name: str
    available_qty: int
    threshold: int

    _single_line = field_validator("product_name")(_one_line)


class AiNotificationReady(_Payload):
    order_number: str
    customer_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)
    subject: str = Field(min_length=1, max_length=300)
    body_html: str = Field(max_length=200_000)
    body_text: str = Field(max_length=100_000)

    @field_validator("subject")
    @classmethod
    def _subject_one_line(cls, value: str) -> str:
        # A model may wrap a subject; fold it rather than reject the whole email.
        return " ".join(value.split())
