"""SMTP delivery with aiosmtplib: STARTTLS or implicit TLS and auth as configured, a timeout
on every send, multipart/alternative (plain text first, HTML preferred)."""

import asyncio
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
import structlog

from notification_service.rendering import Email

log = structlog.get_logger(__name__)


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        timeout_seconds: float,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_tls: bool = False,
        enabled: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout_seconds = timeout_seconds
        self.username = username
        self.password = password
        self.starttls = starttls
        self.use_tls = use_tls
        # EMAIL_ENABLED=false: the original design's log-only mode (nothing leaves, each email
        # is logged and recorded as delivered).
        self.enabled = enabled

    def build_message(self, email: Email, message_id: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = formatdate(localtime=False)
        # Derived from the event id: a duplicate that slipped through is recognisable as one.
        message["Message-ID"] = message_id
        message["X-Notification-Kind"] = email.kind
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        return message

    async def send(self, email: Email, message_id: str) -> None:
        """Raises aiosmtplib errors; connection trouble and timeouts are OSError/TimeoutError
        subclasses, which the consumer treats as "the relay is away" (pause and retry)."""
        if not self.enabled:
            log.info(
                "email.logged_only",
                kind=email.kind,
                to=email.to,
                subject=email.subject,
                message_id=message_id,
                text=email.text[:2000],
            )
            return
        # One bound for the whole exchange (aiosmtplib's timeout is per step), so a send
        # always ends before the delivery lease (validated to be longer) runs out.
        async with asyncio.timeout(self.timeout_seconds):
            await self._send(email, message_id)
        log.info("email.sent", kind=email.kind, to=email.to, message_id=message_id)

    async def _send(self, email: Email, message_id: str) -> None:
        await aiosmtplib.send(
            self.build_message(email, message_id),
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            use_tls=self.use_tls,
            timeout=self.timeout_seconds,
        )

    async def ping(self) -> None:
        """Connect, greet and quit: what /ready checks (nothing in log-only mode)."""
        if not self.enabled:
            return
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.use_tls,
            start_tls=False,
            timeout=self.timeout_seconds,
        )
        await client.connect()
        await client.quit()
