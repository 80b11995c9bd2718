"""The public contract of search-service: what /api/search* answers."""

from pydantic import BaseModel, ConfigDict, Field, computed_field


class SearchHit(BaseModel):
    id: str = Field(description="Product id (MongoDB ObjectId)")
    name: str
    description: str
    price: float = Field(description="Two decimals, as the catalog has it")
    category: str
    tags: list[str]
    stock_quantity: int | None
    image_url: str | None
    score: float | None = Field(description="Relevance; null when results are not ranked")
    highlight: dict[str, list[str]] = Field(
        default_factory=dict, description="Matched fragments per field, terms in <em>"
    )


class SearchResults(BaseModel):
    query: str
    total: int
    page: int
    size: int
    hits: list[SearchHit]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def page_size(self) -> int:
        """The fleet's name for `size` (chassis.pagination); `size` stays for its clients."""
        return self.size


class Suggestion(BaseModel):
    id: str
    name: str


class AutocompleteResults(BaseModel):
    query: str
    suggestions: list[Suggestion]


class CategoryFacet(BaseModel):
    category: str
    count: int


class PriceRangeFacet(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    key: str
    min_price: float | None = Field(description="Inclusive lower bound; null: unbounded")
    max_price: float | None = Field(description="Exclusive upper bound; null: unbounded")
    count: int


class Facets(BaseModel):
    categories: list[CategoryFacet]
    price_ranges: list[PriceRangeFacet]


class AppliedFilters(BaseModel):
    category: str | None
    min_price: float | None
    max_price: float | None
    tags: list[str]


class FilterResults(BaseModel):
    total: int
    page: int
    size: int
    filters: AppliedFilters
    hits: list[SearchHit]
    facets: Facets

    @computed_field  # type: ignore[prop-decorator]
    @property
    def page_size(self) -> int:
        """The fleet's name for `size` (chassis.pagination); `size` stays for its clients."""
        return self.size


class ReindexReport(BaseModel):
    index: str = Field(description="The new concrete index the alias now points to")
    alias: str
    previous_indices: list[str] = Field(description="Indices the alias left (now deleted)")
    products_read: int = Field(description="Products read from product-service, all passes")
    indexed: int = Field(description="Documents written to the new index")
    stale_skipped: int = Field(
        description="Products the new index already held in a newer version (from events)"
    )
    invalid_skipped: int = Field(description="Products product-service sent that were unusable")
    passes: int
    took_ms: int
