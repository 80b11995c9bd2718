"""HTTP routes: parse, call the service layer, shape the reply. No rules live here."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, status

from chassis.exact_json import ExactJSONResponse
from chassis.pagination import PAGE_HEADERS_DOC, numbered_page_headers
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


def _reply(
    payload: Product | ProductPage, status_code: int = 200, headers: dict[str, str] | None = None
) -> ExactJSONResponse:
    return ExactJSONResponse(
        payload.model_dump(mode="python"), status_code=status_code, headers=headers
    )


def _page_headers(request: Request, page: ProductPage) -> dict[str, str]:
    return numbered_page_headers(
        request.url, total=page.total, page=page.page, page_size=page.page_size
    )


async def get_service(request: Request) -> ProductService:
    service: ProductService = request.app.state.products
    return service


Service = Annotated[ProductService, Depends(get_service)]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
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
    return _reply(await service.create(body), status.HTTP_201_CREATED)


@router.get(
    "",
    response_model=ProductPage,
    responses=_PAGED,
    summary="List products, one page at a time (10 by default; X-Total-Count, Link)",
)
async def list_products(
    request: Request, service: Service, page: Page = 1, page_size: PageSize = DEFAULT_PAGE_SIZE
) -> ExactJSONResponse:
    found = await service.list(page, page_size)
    return _reply(found, headers=_page_headers(request, found))


# Before /{product_id}, so "search" is never read as an id.
@router.get(
    "/search",
    response_model=list[Product],
    responses=_PAGED,
    summary="Case-insensitive literal search over name, category and tags: a JSON array "
    "(one page; the total in X-Total-Count, the next page in Link)",
)
async def search_products(
    request: Request,
    service: Service,
    q: Annotated[SearchText, Query(description="Text to find; matched literally")],
    page: Page = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_PAGE_SIZE, description="The original name of page_size")
    ] = None,
) -> ExactJSONResponse:
    found = await service.search(q, page, limit or page_size)
    return ExactJSONResponse(
        [p.model_dump(mode="python") for p in found.products], headers=_page_headers(request, found)
    )


@router.get("/{product_id}", response_model=Product, responses=_BAD_ID)
async def get_product(product_id: ProductIdPath, service: Service) -> ExactJSONResponse:
    return _reply(await service.get(product_id))


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
    return _reply(await service.update(product_id, body))


@router.delete("/{product_id}", response_model=Message, responses=_BAD_ID)
async def delete_product(product_id: ProductIdPath, service: Service) -> Message:
    return Message(message=await service.delete(product_id))
