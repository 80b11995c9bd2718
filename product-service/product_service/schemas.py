"""The public contract of product-service (field names follow the seed README)."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from chassis.api import Money
from chassis.validation import Integer
from product_service.models import CENT

MAX_PRICE = Decimal("10000000.00")
MAX_STOCK = 1_000_000_000
MAX_TAGS = 20
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
MAX_PAGE = 100_000
MAX_QUERY_LENGTH = 100


def _encodable(value: str) -> str:
    # A lone surrogate ("\ud800") is valid JSON but not UTF-8: BSON could not store it.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _no_control_characters(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return _encodable(value)


def _text_characters(value: str) -> str:
    """Free text may hold line breaks and tabs, but no other control characters."""
    if any((ord(ch) < 32 and ch not in "\n\r\t") or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return _encodable(value)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def _unique_tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(tag, None)
    return list(seen)


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_characters),
]
Category = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_control_characters),
]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(_no_control_characters),
]
Description = Annotated[str, Field(max_length=5000), AfterValidator(_text_characters)]
Price = Annotated[
    Decimal,
    Field(gt=0, le=MAX_PRICE, max_digits=12, decimal_places=2, examples=[999.99]),
    AfterValidator(_cents),
]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_unique_tags)]
# Integer: true/false are refused, never read as 1/0.
StockQuantity = Annotated[Integer, Field(ge=0, le=MAX_STOCK)]
ImageUrl = Annotated[
    str,
    StringConstraints(max_length=2048, pattern=r"^https?://[^\s]+$"),
    AfterValidator(_no_control_characters),
]
# Query text for /search: matched literally (escaped), never as a pattern.
SearchText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_LENGTH),
    AfterValidator(_no_control_characters),
]


class ProductCreate(BaseModel):
    # Unknown fields are ignored, as the original design did (not a 422).
    model_config = ConfigDict(extra="ignore")

    name: Name
    description: Description = ""
    price: Price
    category: Category
    tags: Tags = Field(default_factory=list)
    stock_quantity: StockQuantity = 0
    image_url: ImageUrl | None = None


class ProductUpdate(BaseModel):
    """PUT: only the fields given change; a null field is ignored (as the original design did),
    and a body with nothing to change is a 400 "No fields to update" (service layer)."""

    model_config = ConfigDict(extra="ignore")

    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    category: Category | None = None
    tags: Tags | None = None
    stock_quantity: StockQuantity | None = None
    # "" clears the image (a null is ignored like any other).
    image_url: ImageUrl | Literal[""] | None = None

    def changes(self) -> dict[str, Any]:
        """The fields given with a value; an empty description or image_url clears it."""
        changes = self.model_dump(exclude_unset=True, exclude_none=True)
        if changes.get("image_url") == "":
            changes["image_url"] = None
        return changes


class Product(BaseModel):
    id: str
    name: str
    description: str
    price: Money
    category: str
    tags: list[str]
    stock_quantity: int
    image_url: str | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="Starts at 1; +1 on every update.")


class ProductPage(BaseModel):
    products: list[Product]
    total: int
    page: int
    page_size: int


class Message(BaseModel):
    message: str
