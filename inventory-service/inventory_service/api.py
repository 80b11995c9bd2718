"""HTTP routes: parse, call the service layer, shape the reply. No rules live here."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status

from chassis.api import service_dependency, uuid_path
from chassis.pagination import PAGE_HEADERS_DOC, PageRequest, offset_pagination
from inventory_service.schemas import (
    PRODUCT_ID_PATTERN,
    InventoryCreate,
    InventoryItem,
    InventoryUpdate,
    Message,
    Quantity,
    Reservation,
    ReservationRequest,
    StockChange,
    StockCheck,
)
from inventory_service.service import InventoryService

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
MAX_OFFSET = 10_000_000


Service = Annotated[InventoryService, Depends(service_dependency(InventoryService, "inventory"))]
ProductIdPath = Annotated[
    str, Path(pattern=PRODUCT_ID_PATTERN, description="Product id (e.g. a catalog ObjectId)")
]

parse_reservation_id = uuid_path("reservation_id", "reservation")
ReservationId = Annotated[uuid.UUID, Depends(parse_reservation_id)]
# page/page_size; limit/offset (the original names) are accepted too.
Paging = Annotated[
    PageRequest, Depends(offset_pagination(DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_OFFSET))
]

router = APIRouter(prefix="/api/inventory", tags=["inventory"])


# Reservation routes come first so "reservations" is never read as a product id.
@router.post(
    "/reservations",
    response_model=Reservation,
    status_code=status.HTTP_201_CREATED,
    summary="Reserve every item or none (idempotent on reservation_id)",
    responses={
        200: {"description": "Retry of an existing reservation with the same items"},
        400: {"description": "Insufficient stock"},
        404: {"description": "Unknown product"},
        409: {"description": "Same reservation_id with different items"},
    },
)
async def create_reservation(
    body: ReservationRequest, service: Service, response: Response
) -> Reservation:
    reservation, created = await service.reserve(body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return reservation


@router.get("/reservations/{reservation_id}", response_model=Reservation)
async def get_reservation(reservation_id: ReservationId, service: Service) -> Reservation:
    return await service.get_reservation(reservation_id)


@router.post(
    "/reservations/{reservation_id}/confirm",
    response_model=Reservation,
    summary="Keep the stock for a committed order (idempotent)",
)
async def confirm_reservation(reservation_id: ReservationId, service: Service) -> Reservation:
    return await service.confirm_reservation(reservation_id)


@router.post(
    "/reservations/{reservation_id}/release",
    response_model=Reservation,
    summary="Give the stock back (idempotent)",
)
async def release_reservation(reservation_id: ReservationId, service: Service) -> Reservation:
    return await service.release_reservation(reservation_id)


@router.post(
    "",
    response_model=InventoryItem,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "The product already has inventory"}},
)
async def create_item(body: InventoryCreate, service: Service) -> InventoryItem:
    return await service.create_item(body)


@router.get(
    "",
    response_model=list[InventoryItem],
    responses={200: {"headers": PAGE_HEADERS_DOC}},
    summary="List inventory (a JSON array; page with page/page_size or limit/offset; "
    "X-Total-Count, Link)",
)
async def list_items(response: Response, service: Service, paging: Paging) -> list[InventoryItem]:
    items = await service.list_items(paging.page_size, paging.offset)
    total = await service.count_items()
    response.headers.update(paging.headers(total))
    return items


@router.get("/{product_id}", response_model=InventoryItem)
async def get_item(product_id: ProductIdPath, service: Service) -> InventoryItem:
    return await service.get_item(product_id)


@router.get("/{product_id}/check", response_model=StockCheck)
async def check_stock(
    product_id: ProductIdPath, service: Service, quantity: Annotated[Quantity, Query()]
) -> StockCheck:
    return await service.check_stock(product_id, quantity)


@router.patch(
    "/{product_id}/reduce",
    response_model=InventoryItem,
    responses={400: {"description": "Insufficient stock"}},
)
async def reduce_stock(
    product_id: ProductIdPath, body: StockChange, service: Service
) -> InventoryItem:
    return await service.reduce_stock(product_id, body.quantity)


@router.patch("/{product_id}/restock", response_model=InventoryItem)
async def restock(product_id: ProductIdPath, body: StockChange, service: Service) -> InventoryItem:
    return await service.restock(product_id, body.quantity)


@router.put(
    "/{product_id}",
    response_model=InventoryItem,
    summary="Change name, quantity or threshold (only the fields given; nulls are ignored)",
    responses={
        400: {"description": "No fields to update, or quantity below what is reserved"},
        404: {"description": "Unknown product"},
    },
)
async def update_item(
    product_id: ProductIdPath,
    service: Service,
    body: Annotated[InventoryUpdate | None, Body()] = None,
) -> InventoryItem:
    return await service.update_item(product_id, body)


@router.delete(
    "/{product_id}",
    response_model=Message,
    responses={409: {"description": "Units are still reserved"}},
)
async def delete_item(product_id: ProductIdPath, service: Service) -> Message:
    return Message(message=await service.delete_item(product_id))
