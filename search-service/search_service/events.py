"""The event search-service consumes: `product-updated` (DESIGN.md section 3)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from search_service.models import MAX_VERSION, CatalogProduct, ProductId


class ProductUpdated(BaseModel):
    """`data` of a product-updated CloudEvent; `product` is absent on delete."""

    model_config = ConfigDict(extra="ignore")

    op: Literal["upsert", "delete"]
    product_id: ProductId
    version: int = Field(ge=0, le=MAX_VERSION)
    product: CatalogProduct | None = None

    @model_validator(mode="after")
    def _upsert_carries_its_product(self) -> "ProductUpdated":
        if self.op == "upsert":
            if self.product is None:
                raise ValueError("an upsert must carry the product document")
            if self.product.id != self.product_id:
                raise ValueError(
                    f"product.id {self.product.id} differs from product_id {self.product_id}"
                )
        return self
