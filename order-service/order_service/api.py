"""HTTP routes: parse, call the service layer, shape the reply. No rules live here."""

import uuid
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Depends, Header, Path, status

from chassis import BadRequest
from chassis.api import exact_reply, service_dependency, uuid_path
from chassis.exact_json import ExactJSONResponse
from chassis.pagination import PAGE_HEADERS_DOC, PageRequest, offset_pagination
from order_service.schemas import Order, OrderCreate, StatusUpdate
from order_service.service import OrderService

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
MAX_OFFSET = 10_000_000


def parse_email(email: Annotated[str, Path(description="Customer email address")]) -> str:
    try:
        return validate_email(email[:320], check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise BadRequest(f"Invalid email address: {exc}") from None


Service = Annotated[OrderService, Depends(service_dependency(OrderService, "orders"))]
parse_order_id = uuid_path("order_id", "order")
OrderId = Annotated[uuid.UUID, Depends(parse_order_id)]
# page/page_size; limit/offset (the original names) are accepted too.
Paging = Annotated[
    PageRequest, Depends(offset_pagination(DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_OFFSET))
]

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
    return exact_reply(Order, order, status_code=status.HTTP_201_CREATED, headers=headers)


async def _page(
    service: OrderService, paging: PageRequest, email: str | None = None
) -> ExactJSONResponse:
    """One page, with X-Total-Count and Link: a capped list never cuts off silently."""
    found = await service.list_orders(paging.page_size, paging.offset, email=email)
    total = await service.count_orders(email)
    return exact_reply(list[Order], found, headers=paging.headers(total))


@router.get(
    "",
    response_model=list[Order],
    responses={200: {"headers": PAGE_HEADERS_DOC}},
    summary="All orders, newest first (page/page_size or limit/offset; X-Total-Count, Link)",
)
async def list_orders(service: Service, paging: Paging) -> ExactJSONResponse:
    return await _page(service, paging)


@router.get(
    "/user/{email}",
    response_model=list[Order],
    responses={200: {"headers": PAGE_HEADERS_DOC}, 400: {"description": "Invalid email"}},
    summary="A customer's orders, newest first (page/page_size or limit/offset; "
    "X-Total-Count, Link)",
)
async def list_customer_orders(
    email: Annotated[str, Depends(parse_email)], service: Service, paging: Paging
) -> ExactJSONResponse:
    return await _page(service, paging, email)


@router.get("/{order_id}", response_model=Order)
async def get_order(order_id: OrderId, service: Service) -> ExactJSONResponse:
    return exact_reply(Order, await service.get_order(order_id))


@router.patch(
    "/{order_id}/status",
    response_model=Order,
    summary="Move the order forward (CONFIRMED → SHIPPED → DELIVERED; cancel before SHIPPED)",
)
async def update_status(
    order_id: OrderId, body: StatusUpdate, service: Service
) -> ExactJSONResponse:
    return exact_reply(Order, await service.change_status(order_id, body.status))


@router.patch(
    "/{order_id}/cancel",
    response_model=Order,
    responses={400: {"description": "Cannot cancel order with status SHIPPED"}},
)
async def cancel_order(order_id: OrderId, service: Service) -> ExactJSONResponse:
    return exact_reply(Order, await service.cancel(order_id))
