"""HTTP routes: parse, call the service layer, shape the reply. No rules live here."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from chassis.api import invalid_query, service_dependency
from chassis.pagination import PAGE_HEADERS_DOC, PageRequest, pagination
from search_service.schemas import AutocompleteResults, FilterResults, ReindexReport, SearchResults
from search_service.service import SearchService

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
# Elasticsearch's result window: from + size may not pass it.
MAX_RESULT_WINDOW = 10_000
MAX_PRICE = 1e12
MAX_TAGS = 20
MAX_TAG_LENGTH = 100


Service = Annotated[SearchService, Depends(service_dependency(SearchService, "search"))]
# page/page_size; size (this service's original name) and limit are accepted for page_size.
Paging = Annotated[
    PageRequest,
    Depends(
        pagination(
            default_size=DEFAULT_PAGE_SIZE, max_size=MAX_PAGE_SIZE, max_page=MAX_RESULT_WINDOW
        )
    ),
]

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "Search is temporarily unavailable (Elasticsearch down)"}
}
PAGED: dict[int | str, dict[str, Any]] = {200: {"headers": PAGE_HEADERS_DOC}, **UNAVAILABLE}


def check_window(paging: PageRequest) -> None:
    page, size, name = paging.page, paging.page_size, paging.size_name
    if page * size > MAX_RESULT_WINDOW:
        raise invalid_query(
            "page",
            f"page * {name} must be at most {MAX_RESULT_WINDOW} (got page={page}, "
            f"{name}={size}); narrow the query instead of paging this deep",
            page,
        )


def parse_tags(values: list[str] | None) -> list[str]:
    """`tags=a,b` and `tags=a&tags=b` both mean: carries tag a and tag b."""
    tags = [part.strip() for value in values or [] for part in value.split(",") if part.strip()]
    if len(tags) > MAX_TAGS:
        raise invalid_query("tags", f"at most {MAX_TAGS} tags may be given (got {len(tags)})", tags)
    for tag in tags:
        if len(tag) > MAX_TAG_LENGTH:
            raise invalid_query("tags", f"a tag is at most {MAX_TAG_LENGTH} characters long", tag)
    return tags


router = APIRouter(prefix="/api/search", tags=["search"])


@router.get(
    "",
    response_model=SearchResults,
    summary="Full-text search: fuzzy, name weighs most, then tags, then description",
    responses=PAGED,
)
async def search(
    service: Service,
    paging: Paging,
    response: Response,
    q: Annotated[str, Query(max_length=200, description="Words to find; empty lists all")] = "",
) -> SearchResults:
    check_window(paging)
    found = await service.search(q, paging.page, paging.page_size)
    response.headers.update(paging.headers(found.total))
    return found


@router.get(
    "/autocomplete",
    response_model=AutocompleteResults,
    summary="Up to 10 product names starting with the typed prefix",
    responses=UNAVAILABLE,
)
async def autocomplete(
    service: Service,
    q: Annotated[str, Query(min_length=1, max_length=100, description="Typed prefix")],
) -> AutocompleteResults:
    return await service.autocomplete(q)


@router.get(
    "/filter",
    response_model=FilterResults,
    summary="Filter by category, price range and tags; with category and price facets",
    responses=PAGED,
)
async def filter_products(
    service: Service,
    category: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Exact, any case")
    ] = None,
    min_price: Annotated[
        float | None,
        Query(alias="minPrice", ge=0, le=MAX_PRICE, allow_inf_nan=False, description="Inclusive"),
    ] = None,
    max_price: Annotated[
        float | None,
        Query(alias="maxPrice", ge=0, le=MAX_PRICE, allow_inf_nan=False, description="Inclusive"),
    ] = None,
    tags: Annotated[
        list[str] | None,
        Query(description="Products carrying every tag given (repeat or comma-separate)"),
    ] = None,
    *,
    paging: Paging,
    response: Response,
) -> FilterResults:
    if min_price is not None and max_price is not None and min_price > max_price:
        raise invalid_query(
            "minPrice",
            f"minPrice ({min_price:g}) must not be greater than maxPrice ({max_price:g})",
            min_price,
        )
    check_window(paging)
    found = await service.filter(
        category, min_price, max_price, parse_tags(tags), paging.page, paging.page_size
    )
    response.headers.update(paging.headers(found.total))
    return found


@router.post(
    "/reindex",
    response_model=ReindexReport,
    summary="Admin: rebuild the index from product-service and swap the alias atomically",
    responses={
        409: {"description": "A reindex is already running"},
        503: {"description": "Elasticsearch or product-service unavailable; nothing changed"},
    },
)
async def reindex(service: Service) -> ReindexReport:
    return await service.reindex()
