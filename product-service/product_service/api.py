"""HTTP routes: parse, call the service layer, shape the reply. No rules live here."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status

from chassis.exact_json import ExactJSONResponse
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


def _reply(payload: Product | ProductPage, status_code: int = 200) -> ExactJSONResponse:
    return ExactJSONResponse(payload.model_dump(mode="python"), status_code=status_code)


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


@router.post("", response_model=Product, status_code=status.HTTP_201_CREATED)
async def create_product(body: ProductCreate, service: Service) -> ExactJSONResponse:
    return _reply(await service.create(body), status.HTTP_201_CREATED)


@router.get("", response_model=ProductPage, summary="List products, one page at a time")
async def list_products(
    service: Service, page: Page = 1, page_size: PageSize = DEFAULT_PAGE_SIZE
) -> ExactJSONResponse:
    return _reply(await service.list(page, page_size))


# Before /{product_id}, so "search" is never read as an id.
@router.get(
    "/search",
    response_model=ProductPage,
    summary="Case-insensitive literal search over name, category and tags (paginated)",
)
async def search_products(
    service: Service,
    q: Annotated[SearchText, Query(description="Text to find; matched literally")],
    page: Page = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
) -> ExactJSONResponse:
    return _reply(await service.search(q, page, page_size))


@router.get("/{product_id}", response_model=Product, responses=_BAD_ID)
async def get_product(product_id: ProductIdPath, service: Service) -> ExactJSONResponse:
    return _reply(await service.get(product_id))


@router.put(
    "/{product_id}",
    response_model=Product,
    responses=_BAD_ID,
    summary="Change the fields given (others stay); moves updated_at and version",
)
async def update_product(
    product_id: ProductIdPath, body: ProductUpdate, service: Service
) -> ExactJSONResponse:
    return _reply(await service.update(product_id, body))


@router.delete("/{product_id}", response_model=Message, responses=_BAD_ID)
async def delete_product(product_id: ProductIdPath, service: Service) -> Message:
    return Message(message=await service.delete(product_id))
