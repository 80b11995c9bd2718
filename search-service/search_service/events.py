"""The event search-service consumes: `product-updated`, read with its contract
(`contracts.ProductUpdated`) plus the bounds the index needs (an ObjectId, a version that fits
Elasticsearch's external versioning)."""

from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from contracts import ProductUpdated as ProductUpdatedContract
from search_service.models import MAX_VERSION, CatalogProduct, ProductId


class ProductUpdated(ProductUpdatedContract):
    """`data` of a product-updated CloudEvent; `product` is absent on delete."""

    model_config = ConfigDict(extra="ignore")

    product_id: ProductId
    version: Annotated[int, Field(ge=0, le=MAX_VERSION)]
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
