"""Public API models."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

NotificationKind = Literal[
    "order-confirmation", "order-cancellation", "inventory-low", "ai-follow-up"
]


class Notification(BaseModel):
    event_id: str
    kind: NotificationKind
    to: str
    subject: str
    order_number: str | None = None
    sent_at: datetime


class NotificationList(BaseModel):
    notifications: list[Notification]
