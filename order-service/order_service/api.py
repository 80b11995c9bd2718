"""HTTP routes: parse, call the service layer, shape the reply. No rules live here."""

import uuid
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Depends, Header, Path, Query, Request, status

from chassis import BadRequest
from chassis.exact_json import ExactJSONResponse
from chassis.pagination import PAGE_HEADERS_DOC, offset_page_headers
from order_service.schemas import Order, OrderCreate, StatusUpdate
from order_service.service import OrderService

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100


def _reply(
    payload: Order | list[Order], status_code: int = 200, **headers: str
) -> ExactJSONResponse:
    if isinstance(payload, list):
        content: Any = [order.model_dump(mode="python") for order in payload]
    else:
        content = payload.model_dump(mode="python")
    return ExactJSONResponse(content, status_code=status_code, headers=headers or None)


async def get_service(request: Request) -> OrderService:
    service: OrderService = request.app.state.orders
    return service


def parse_order_id(order_id: Annotated[str, Path(description="Order id (a UUID)")]) -> uuid.UUID:
    try:
        return uuid.UUID(order_id)
    except ValueError:
        raise BadRequest(f"Invalid order id: {order_id[:64]!r} is not a UUID") from None


def parse_email(email: Annotated[str, Path(description="Customer email address")]) -> str:
    try:
        return validate_email(email[:320], check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise BadRequest(f"Invalid email address: {exc}") from None


Service = Annotated[OrderService, Depends(get_service)]
OrderId = Annotated[uuid.UUID, Depends(parse_order_id)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]

router = APIRouter(prefix="/api/orders", tags=["orders"])


@router.post(
    "",
    response_model=Order,
    status_code=status.HTTP_201_CREATED,
    summary="Place an order: reserve stock, save, confirm (Idempotency-Key honoured)",
    responses={
        400: {"description": "Insufficient stock for product: <name>"},
        404: {"description": "A product has no inventory"},
        422: {"description": "Invalid body, or Idempotency-Key reused with another body"},
        503: {"description": "Inventory service unavailable"},
        504: {"description": "Inventory service timed out"},
    },
)
async def place_order(
    body: OrderCreate,
    service: Service,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Retrying with the same key returns the first order, never a second.",
        ),
    ] = None,
) -> ExactJSONResponse:
    order, created = await service.place_order(body, idempotency_key)
    headers = {} if created else {"Idempotent-Replayed": "true"}
    return _reply(order, status.HTTP_201_CREATED, **headers)


async def _page(
    request: Request, service: OrderService, limit: int, offset: int, email: str | None = None
) -> ExactJSONResponse:
    """One page, with X-Total-Count and Link: a capped list never cuts off silently."""
    found = await service.list_orders(limit, offset, email=email)
    total = await service.count_orders(email)
    headers = offset_page_headers(request.url, total=total, limit=limit, offset=offset)
    return _reply(found, 200, **headers)


@router.get(
    "",
    response_model=list[Order],
    responses={200: {"headers": PAGE_HEADERS_DOC}},
    summary="All orders, newest first (limit/offset; X-Total-Count, Link)",
)
async def list_orders(
    request: Request, service: Service, limit: Limit = DEFAULT_PAGE_SIZE, offset: Offset = 0
) -> ExactJSONResponse:
    return await _page(request, service, limit, offset)


@router.get(
    "/user/{email}",
    response_model=list[Order],
    responses={200: {"headers": PAGE_HEADERS_DOC}, 400: {"description": "Invalid email"}},
    summary="A customer's orders, newest first (limit/offset; X-Total-Count, Link)",
)
async def list_customer_orders(
    request: Request,
    email: Annotated[str, Depends(parse_email)],
    service: Service,
    limit: Limit = DEFAULT_PAGE_SIZE,
    offset: Offset = 0,
) -> ExactJSONResponse:
    return await _page(request, service, limit, offset, email)


@router.get("/{order_id}", response_model=Order)
async def get_order(order_id: OrderId, service: Service) -> ExactJSONResponse:
    return _reply(await service.get_order(order_id))


@router.patch(
    "/{order_id}/status",
    response_model=Order,
    summary="Move the order forward (CONFIRMED → SHIPPED → DELIVERED; cancel before SHIPPED)",
)
async def update_status(
    order_id: OrderId, body: StatusUpdate, service: Service
) -> ExactJSONResponse:
    return _reply(await service.change_status(order_id, body.status))


@router.patch(
    "/{order_id}/cancel",
    response_model=Order,
    responses={400: {"description": "Cannot cancel order with status SHIPPED"}},
)
async def cancel_order(order_id: OrderId, service: Service) -> ExactJSONResponse:
    return _reply(await service.cancel(order_id))
