"""Use cases: turn an event into one email and deliver it at most once per event id
(modulo the window described in README.md)."""

import contextlib
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter

from chassis.events import CloudEvent
from contracts import AI_NOTIFICATION_READY, INVENTORY_LOW, ORDER_CANCELLED, ORDER_PLACED
from notification_service.config import Settings
from notification_service.mailer import SmtpMailer
from notification_service.rendering import Email, EmailRenderer
from notification_service.repository import DeliveryLedger
from notification_service.schemas import Notification

log = structlog.get_logger(__name__)

EMAILS_SENT = Counter("notification_emails_sent_total", "Emails the SMTP server accepted", ["kind"])
EMAILS_DUPLICATE = Counter(
    "notification_emails_duplicate_total",
    "Redeliveries whose email had been sent already",
    ["kind"],
)


class DeliveryInProgress(Exception):
    """Another consumer holds a live claim on this event: retry once it sent or its lease
    ran out. Passed to the consumer as a transient error (pause, never dead-letter)."""


class UnknownEventType(ValueError):
    pass


class NotificationService:
    def __init__(
        self,
        ledger: DeliveryLedger,
        mailer: SmtpMailer,
        renderer: EmailRenderer,
        settings: Settings,
    ) -> None:
        self.ledger = ledger
        self.mailer = mailer
        self.renderer = renderer
        self.settings = settings

    def compose(self, event: CloudEvent) -> Email:
        """The email an event asks for, its data parsed with the topic's contract; data that
        breaks the contract raises (retried, then dead-lettered)."""
        s = self.settings
        if event.type == s.topic_order_placed:
            return self.renderer.order_confirmation(ORDER_PLACED.parse(event.data))
        if event.type == s.topic_order_cancelled:
            return self.renderer.order_cancellation(ORDER_CANCELLED.parse(event.data))
        if event.type == s.topic_inventory_low:
            return self.renderer.inventory_low(INVENTORY_LOW.parse(event.data), s.admin_email)
        if event.type == s.topic_ai_notification_ready:
            return self.renderer.ai_follow_up(AI_NOTIFICATION_READY.parse(event.data))
        raise UnknownEventType(f"no email for event type {event.type!r}")

    async def handle_event(self, event: CloudEvent) -> None:
        await self.deliver_once(event.id, self.compose(event))

    async def deliver_once(self, event_id: str, email: Email) -> bool:
        """Send `email` unless it was sent for `event_id` already; True if sent now."""
        # Claim first: the claim fails when the event was sent already (or is being sent), so
        # a first delivery costs one Redis round trip here, not two.
        token = await self.ledger.claim(event_id)
        if token is None:
            if await self.ledger.is_sent(event_id):
                EMAILS_DUPLICATE.labels(email.kind).inc()
                log.info("email.duplicate_skipped", event_id=event_id, kind=email.kind)
                return False
            raise DeliveryInProgress(f"event {event_id} is being sent by another consumer")
        try:
            await self.mailer.send(email, message_id=f"<{event_id}@notification-service>")
        except Exception:
            # Failed before the relay accepted it: give the claim back so a retry sends.
            with contextlib.suppress(Exception):
                await self.ledger.release(event_id, token)
            raise
        await self.ledger.record_sent(
            event_id,
            Notification(
                event_id=event_id,
                kind=email.kind,
                to=email.to,
                subject=email.subject,
                order_number=email.order_number,
                sent_at=datetime.now(UTC),
            ),
        )
        EMAILS_SENT.labels(email.kind).inc()
        return True

    async def recent(self, email: str | None, limit: int) -> list[Notification]:
        return await self.ledger.recent(email, limit)
