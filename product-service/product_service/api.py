"""HTTP routes: parse, call the service layer, shape the reply. No rules live here."""

import json
import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import JSONResponse

from chassis.events import to_json_ready
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


class ExactJSONResponse(JSONResponse):
    """JSON whose Decimals are written with their own digits (`999.99`, `10.00`), so a price
    never passes through a binary float on its way out; datetimes are RFC 3339 UTC."""

    def render(self, content: Any) -> bytes:
        marker = uuid.uuid4().hex
        numbers: dict[str, str] = {}

        def keep_digits(value: Any) -> Any:
            if isinstance(value, Decimal):
                token = f"{marker}:{len(numbers)}"
                numbers[f'"{token}"'] = str(value)
                return token
            raise TypeError(f"{type(value).__name__} is not JSON serializable")

        text = json.dumps(
            to_json_ready(content), default=keep_digits, ensure_ascii=False, separators=(",", ":")
        )
        for token, digits in numbers.items():
            text = text.replace(token, digits, 1)
        return text.encode()


def _reply(payload: Product | ProductPage, status_code: int = 200) -> ExactJSONResponse:
    return ExactJSONResponse(payload.model_dump(mode="python"), status_code=status_code)


def get_service(request: Request) -> ProductService:
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
