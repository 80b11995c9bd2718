"""One typed model per topic's `data`, with its version: the fleet's event contract.

Producers build the `data` of every event they publish from these models (``Topic.event``)
and consumers parse it with them (``Topic.parse``), so a field renamed on one side fails the
other side's contract tests, not production. ``asyncapi.yaml`` is generated from this module
(``python -m contracts.asyncapi``) and a test fails when the checked-in copy is stale.

Versioning: each topic's ``version`` travels on every event as the CloudEvents ``dataschema``
attribute (``urn:ecommerce-fleet:event:<topic>:v<version>``). Adding an optional field keeps
the version; renaming or removing a field, or changing a type, is a new version published on
the same topic beside the old one until every consumer has moved (docs/events.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from chassis.events import CloudEvent, new_event

# One plain address: no white space and none of the characters that make an address header
# more than one address, a group, a comment or a quoted string (what order-service's EmailStr
# lets in never has them). With them, the mail header folding of the email package (which the
# notification mailer uses) could start a new header line inside "To:".
EMAIL_PATTERN = r'^[^@\s()<>\[\]:;,"\\]+@[^@\s()<>\[\]:;,"\\]+$'


def _one_line(value: str) -> str:
    # Values that end up in mail headers must not smuggle in another header.
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value.strip()


# Money is an exact JSON number (``1999.98``); consumers read it back as Decimal.
Money = Annotated[
    Decimal,
    Field(allow_inf_nan=False),
    WithJsonSchema({"type": "number", "examples": [1999.98]}),
]
OneLine = Annotated[str, AfterValidator(_one_line)]
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=320)]
OrderStatus = Literal["PENDING", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED"]


class EventData(BaseModel):
    """Consumers ignore fields they do not know: adding one is a compatible change."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    def omitted(self) -> set[str]:
        """Fields left out of the event when they hold nothing (absent rather than null)."""
        return set()


class OrderLine(EventData):
    product_id: str = Field(min_length=1, max_length=128)
    product_name: OneLine
    quantity: int = Field(ge=1)
    unit_price: Money

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class OrderPlaced(EventData):
    """An order was saved with its stock reserved (topic ``order-placed``)."""

    order_id: uuid.UUID
    order_number: OneLine
    customer_name: OneLine
    customer_email: Email
    total_amount: Money
    status: OrderStatus = "CONFIRMED"
    items: list[OrderLine] = Field(default_factory=list)


class OrderCancelled(OrderPlaced):
    """An order was cancelled before shipping; its stock goes back (``order-cancelled``)."""

    status: OrderStatus = "CANCELLED"


class OrderStatusChanged(EventData):
    """Every status change of an order (``order-status-changed``); SHIPPED commits stock."""

    order_id: uuid.UUID
    order_number: str
    from_status: OrderStatus = Field(alias="from")
    to_status: OrderStatus = Field(alias="to")


class InventoryLow(EventData):
    """Available stock fell below the item's threshold (``inventory-low``), once per crossing."""

    product_id: str = Field(min_length=1, max_length=128)
    product_name: OneLine
    available_qty: int
    threshold: int


class ProductSnapshot(EventData):
    """The product as product-service's REST API shows it, at the event's version."""

    id: str = Field(min_length=1)
    name: str
    description: str = ""
    price: Money
    category: str = ""
    tags: list[str] = Field(default_factory=list)
    stock_quantity: int = 0
    image_url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int | None = Field(default=None, ge=0)

    @field_validator("description", mode="before")
    @classmethod
    def _no_description_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class ProductUpdated(EventData):
    """A product was created, changed (``upsert``, with the whole product) or deleted
    (``product-updated``). ``version`` grows by one per change: apply only newer ones."""

    op: Literal["upsert", "delete"]
    product_id: str = Field(min_length=1, max_length=128)
    version: int = Field(ge=0)
    product: ProductSnapshot | None = None

    def omitted(self) -> set[str]:
        return {"product"} if self.product is None else set()


class AiNotificationReady(EventData):
    """A personalised follow-up email written for an order (``ai-notification-ready``)."""

    order_number: OneLine
    customer_email: Email
    subject: str = Field(min_length=1, max_length=300)
    body_html: str = Field(max_length=200_000)
    body_text: str = Field(max_length=100_000)

    @field_validator("subject")
    @classmethod
    def _subject_one_line(cls, value: str) -> str:
        # A model may wrap a subject; fold it rather than reject the whole email.
        return " ".join(value.split())


Data = TypeVar("Data", bound=EventData)


@dataclass(frozen=True)
class Topic(Generic[Data]):
    """A topic's contract: its name, the model of its ``data``, version, who sends and reads."""

    name: str
    model: type[Data]
    version: int
    summary: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    key: str
    examples: tuple[Mapping[str, Any], ...] = field(default=())

    @property
    def dataschema(self) -> str:
        return f"urn:ecommerce-fleet:event:{self.name}:v{self.version}"

    def dump(self, data: Data) -> dict[str, Any]:
        """``data`` as the event carries it (Decimal, UUID and datetime are encoded later)."""
        return data.model_dump(mode="python", by_alias=True, exclude=data.omitted())

    def parse(self, data: Mapping[str, Any]) -> Data:
        """Validate an event's ``data``; raises pydantic's ValidationError when it breaks the
        contract."""
        return self.model.model_validate(data)

    def event(
        self,
        data: Data,
        *,
        source: str,
        subject: str | uuid.UUID | None = None,
        event_type: str | None = None,
    ) -> CloudEvent:
        """A new CloudEvent for this topic (its type defaults to the topic's name; services
        that rename a topic pass theirs)."""
        if not isinstance(data, self.model):
            raise TypeError(f"{self.name} carries {self.model.__name__}, not {type(data)}")
        return new_event(
            event_type or self.name,
            source,
            subject,
            self.dump(data),
            dataschema=self.dataschema,
        )


_ORDER_EXAMPLE: dict[str, Any] = {
    "order_id": "5b0f8a51-1d1c-4a55-9a4f-0f3c1d2e3a4b",
    "order_number": "ORD-20261126-7K3QZ9AB",
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "total_amount": Decimal("1999.98"),
    "status": "CONFIRMED",
    "items": [
        {
            "product_id": "65f1c0ffee0000000000abcd",
            "product_name": "Laptop Pro 14",
            "quantity": 2,
            "unit_price": Decimal("999.99"),
        }
    ],
}

ORDER_PLACED: Topic[OrderPlaced] = Topic(
    name="order-placed",
    model=OrderPlaced,
    version=1,
    summary=OrderPlaced.__doc__ or "",
    producers=("order-service",),
    consumers=("inventory-service", "notification-service", "ai-service"),
    key="order_id",
    examples=(_ORDER_EXAMPLE,),
)
ORDER_CANCELLED: Topic[OrderCancelled] = Topic(
    name="order-cancelled",
    model=OrderCancelled,
    version=1,
    summary=OrderCancelled.__doc__ or "",
    producers=("order-service",),
    consumers=("inventory-service", "notification-service"),
    key="order_id",
    examples=({**_ORDER_EXAMPLE, "status": "CANCELLED"},),
)
ORDER_STATUS_CHANGED: Topic[OrderStatusChanged] = Topic(
    name="order-status-changed",
    model=OrderStatusChanged,
    version=1,
    summary=OrderStatusChanged.__doc__ or "",
    producers=("order-service",),
    consumers=("inventory-service",),
    key="order_id",
    examples=(
        {
            "order_id": _ORDER_EXAMPLE["order_id"],
            "order_number": _ORDER_EXAMPLE["order_number"],
            "from": "CONFIRMED",
            "to": "SHIPPED",
        },
    ),
)
INVENTORY_LOW: Topic[InventoryLow] = Topic(
    name="inventory-low",
    model=InventoryLow,
    version=1,
    summary=InventoryLow.__doc__ or "",
    producers=("inventory-service",),
    consumers=("notification-service",),
    key="product_id",
    examples=(
        {
            "product_id": "65f1c0ffee0000000000abcd",
            "product_name": "Laptop Pro 14",
            "available_qty": 3,
            "threshold": 5,
        },
    ),
)
_PRODUCT_EXAMPLE: dict[str, Any] = {
    "id": "65f1c0ffee0000000000abcd",
    "name": "Laptop Pro 14",
    "description": "14-inch laptop, 16 GB RAM",
    "price": Decimal("999.99"),
    "category": "Electronics",
    "tags": ["laptop", "computer"],
    "stock_quantity": 25,
    "image_url": None,
    "created_at": "2026-11-26T10:00:00Z",
    "updated_at": "2026-11-26T10:05:00Z",
    "version": 2,
}
PRODUCT_UPDATED: Topic[ProductUpdated] = Topic(
    name="product-updated",
    model=ProductUpdated,
    version=1,
    summary=ProductUpdated.__doc__ or "",
    producers=("product-service",),
    consumers=("search-service", "ai-service", "inventory-service"),
    key="product_id",
    examples=(
        {
            "op": "upsert",
            "product_id": _PRODUCT_EXAMPLE["id"],
            "version": 2,
            "product": _PRODUCT_EXAMPLE,
        },
        {"op": "delete", "product_id": _PRODUCT_EXAMPLE["id"], "version": 3},
    ),
)
AI_NOTIFICATION_READY: Topic[AiNotificationReady] = Topic(
    name="ai-notification-ready",
    model=AiNotificationReady,
    version=1,
    summary=AiNotificationReady.__doc__ or "",
    producers=("ai-service",),
    consumers=("notification-service",),
    key="order_id",
    examples=(
        {
            "order_number": _ORDER_EXAMPLE["order_number"],
            "customer_email": "ada@example.com",
            "subject": "Your Laptop Pro 14 pairs well with these",
            "body_html": "<p>Hello Ada,</p><p>Thanks for your order.</p>",
            "body_text": "Hello Ada,\n\nThanks for your order.",
        },
    ),
)

TOPICS: tuple[Topic[Any], ...] = (
    ORDER_PLACED,
    ORDER_CANCELLED,
    ORDER_STATUS_CHANGED,
    INVENTORY_LOW,
    PRODUCT_UPDATED,
    AI_NOTIFICATION_READY,
)
BY_NAME: Mapping[str, Topic[Any]] = {topic.name: topic for topic in TOPICS}
