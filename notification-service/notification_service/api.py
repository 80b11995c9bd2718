"""GET /api/notifications: recently sent notifications, newest first (for demos)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from notification_service.schemas import NotificationList
from notification_service.service import NotificationService

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


def _service(request: Request) -> NotificationService:
    service: NotificationService = request.app.state.notifications
    return service


@router.get("", response_model=NotificationList, summary="Recently sent notifications")
async def list_notifications(
    request: Request,
    email: Annotated[str | None, Query(max_length=320, description="recipient")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> NotificationList:
    # Redis away: the chassis answers 503 "Redis is unavailable; ..." (chassis.dependencies).
    found = await _service(request).recent(email, limit)
    return NotificationList(notifications=found)
