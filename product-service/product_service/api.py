"""HTTP routes: parse, call the service layer, shape the reply. No rules live here."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, status

from chassis.api import exact_reply, service_dependency
from chassis.exact_json import ExactJSONResponse
from chassis.pagination import PAGE_HEADERS_DOC, PageRequest, pagination
from product_service.schemas import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    Message,
    Product,
    ProductCreate,
    ProductPage,
    ProductUpdate,
    SearchText,
)
from product_service.service import ProductService

Service = Annotated[ProductService, Depends(service_dependency(ProductService, "products"))]
# page/page_size; limit and size are accepted for page_size.
Paging = Annotated[
    PageRequest,
    Depends(pagination(default_size=DEFAULT_PAGE_SIZE, max_size=MAX_PAGE_SIZE, max_page=MAX_PAGE)),
]
ProductIdPath = Annotated[
    str, Path(description="A MongoDB ObjectId (24 hex digits); a malformed one is 400")
]

router = APIRouter(prefix="/api/products", tags=["products"])
_BAD_ID: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed product id"},
    404: {"description": "Unknown product"},
}
_PAGED: dict[int | str, dict[str, Any]] = {200: {"headers": PAGE_HEADERS_DOC}}


@router.post("", response_model=Product, status_code=status.HTTP_201_CREATED)
async def create_product(body: ProductCreate, service: Service) -> ExactJSONResponse:
    return exact_reply(Product, await service.create(body), status_code=status.HTTP_201_CREATED)


@router.get(
    "",
    response_model=ProductPage,
    responses=_PAGED,
    summary="List products, one page at a time (10 by default; X-Total-Count, Link)",
)
async def list_products(service: Service, paging: Paging) -> ExactJSONResponse:
    found = await service.list(paging.page, paging.page_size)
    return exact_reply(ProductPage, found, headers=paging.headers(found.total))


# Before /{product_id}, so "search" is never read as an id.
@router.get(
    "/search",
    response_model=list[Product],
    responses=_PAGED,
    summary="Case-insensitive literal search over name, category and tags: a JSON array "
    "(one page; the total in X-Total-Count, the next page in Link)",
)
async def search_products(
    service: Service,
    q: Annotated[SearchText, Query(description="Text to find; matched literally")],
    paging: Paging,
) -> ExactJSONResponse:
    found = await service.search(q, paging.page, paging.page_size)
    return exact_reply(list[Product], found.products, headers=paging.headers(found.total))


@router.get("/{product_id}", response_model=Product, responses=_BAD_ID)
async def get_product(product_id: ProductIdPath, service: Service) -> ExactJSONResponse:
    return exact_reply(Product, await service.get(product_id))


@router.put(
    "/{product_id}",
    response_model=Product,
    responses={**_BAD_ID, 400: {"description": "Malformed product id, or No fields to update"}},
    summary="Change the fields given (others stay, nulls are ignored); moves updated_at and "
    "version",
)
async def update_product(
    product_id: ProductIdPath,
    service: Service,
    body: Annotated[ProductUpdate | None, Body()] = None,
) -> ExactJSONResponse:
    return exact_reply(Product, await service.update(product_id, body))


@router.delete("/{product_id}", response_model=Message, responses=_BAD_ID)
async def delete_product(product_id: ProductIdPath, service: Service) -> Message:
    return Message(message=await service.delete(product_id))
