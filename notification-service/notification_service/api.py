"""GET /api/notifications: recently sent notifications, newest first (for demos)."""

import sys
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from chassis.api import service_dependency
from chassis.pagination import PAGE_HEADERS_DOC, PageRequest, offset_pagination
from notification_service.schemas import NotificationList
from notification_service.service import NotificationService

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
# The log keeps at most NOTIFICATION_LOG_SIZE entries (100,000 at the most).
MAX_OFFSET = 100_000

router = APIRouter(prefix="/api/notifications", tags=["notifications"])

Service = Annotated[
    NotificationService, Depends(service_dependency(NotificationService, "notifications"))
]
# page/page_size; limit (the original name) and offset are accepted too.
Paging = Annotated[
    PageRequest, Depends(offset_pagination(DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_OFFSET))
]


@router.get(
    "",
    response_model=NotificationList,
    responses={200: {"headers": PAGE_HEADERS_DOC}},
    summary="Recently sent notifications, newest first (X-Total-Count, Link)",
)
async def list_notifications(
    service: Service,
    paging: Paging,
    response: Response,
    email: Annotated[str | None, Query(max_length=320, description="recipient")] = None,
) -> NotificationList:
    # Redis away: the chassis answers 503 "Redis is unavailable; ..." (chassis.dependencies).
    # Every match in the bounded log (read whole either way), for the total.
    found = await service.recent(email, sys.maxsize)
    response.headers.update(paging.headers(len(found)))
    return NotificationList(notifications=found[paging.offset : paging.offset + paging.page_size])
