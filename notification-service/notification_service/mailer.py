"""SMTP delivery with aiosmtplib: STARTTLS or implicit TLS and auth as configured, one timeout
bound for every send, multipart/alternative (plain text first, HTML preferred).

The connection to the relay is kept open and reused (one at a time, under a lock); a kept
connection the server has dropped is replaced once, but only while nothing of the message has
been transmitted, so reuse never sends an email twice."""

import asyncio
import contextlib
import email.policy as email_policy
from email.charset import BASE64, Charset
from email.headerregistry import BaseHeader
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, getaddresses, parseaddr
from typing import Any

import aiosmtplib
import structlog

from notification_service.rendering import Email

log = structlog.get_logger(__name__)

SMTP_POLICY = email_policy.SMTP
# What EmailMessage.set_content picks: 7bit for short ASCII lines, otherwise an encoding
# that survives any relay (base64 here; the decoded text is the same).
_UTF8_7BIT = Charset("utf-8")
_UTF8_7BIT.body_encoding = None  # type: ignore[assignment]  # None: 7bit/8bit, no encoding
_UTF8_BASE64 = Charset("utf-8")
_UTF8_BASE64.body_encoding = BASE64
_MAX_LINE = SMTP_POLICY.max_line_length or 78


def _dropped(exc: Exception) -> bool:
    """Connection trouble, or the relay's 421 "closing the connection" (idle timeout)."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == 421
    return isinstance(exc, (aiosmtplib.SMTPServerDisconnected, ConnectionError))


def _header(name: str, value: str) -> str | BaseHeader:
    """Short ASCII values go as they are; anything else is folded and RFC 2047-encoded by the
    same header classes EmailMessage uses (so non-ASCII names and subjects are encoded)."""
    if "\r" in value or "\n" in value:
        raise ValueError("Header values may not contain linefeed or carriage return characters")
    if value.isascii() and len(name) + len(value) + 2 <= _MAX_LINE:
        return value
    return SMTP_POLICY.header_factory(name, value)


def _text_part(text: str, subtype: str) -> MIMEText:
    lines = text.splitlines()
    plain = text.isascii() and all(len(line) <= _MAX_LINE for line in lines)
    # A Charset object is accepted at run time (typeshed only lists str).
    part = MIMEText(text, subtype, _UTF8_7BIT if plain else _UTF8_BASE64)  # type: ignore[arg-type]
    del part["MIME-Version"]  # only on the top level, as EmailMessage does
    return part


class _Client(aiosmtplib.SMTP):
    """Notes whether DATA began on this connection: after that a failure may mean the relay
    has the message, so the send must fail instead of being repeated on a new connection."""

    data_started = False

    async def data(self, *args: Any, **kwargs: Any) -> Any:
        self.data_started = True
        return await super().data(*args, **kwargs)


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
        self._client: _Client | None = None
        self._lock = asyncio.Lock()

    def build_message(self, email: Email, message_id: str) -> Message:
        message = MIMEMultipart("alternative")
        message["From"] = _header("From", self.sender)
        message["To"] = _header("To", email.to)
        message["Subject"] = _header("Subject", email.subject)
        message["Date"] = formatdate(localtime=False)
        # Derived from the event id: a duplicate that slipped through is recognisable as one.
        message["Message-ID"] = _header("Message-ID", message_id)
        message["X-Notification-Kind"] = _header("X-Notification-Kind", email.kind)
        message.attach(_text_part(email.text, "plain"))
        message.attach(_text_part(email.html, "html"))
        return message

    def message_bytes(self, email: Email, message_id: str, *, utf8: bool = False) -> bytes:
        """The message as transmitted (CRLF line ends, RFC 2047 headers; raw UTF-8 headers
        when an address needs SMTPUTF8, as aiosmtplib's send_message does)."""
        policy = email_policy.SMTPUTF8 if utf8 else SMTP_POLICY
        return self.build_message(email, message_id).as_bytes(policy=policy)

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

    def _envelope(self, email: Email) -> tuple[str, list[str]]:
        sender = parseaddr(self.sender)[1] or self.sender
        recipients = [address for _, address in getaddresses([email.to]) if address]
        return sender, recipients or [email.to]

    async def _send(self, email: Email, message_id: str) -> None:
        sender, recipients = self._envelope(email)
        utf8 = not (sender + "".join(recipients)).isascii()
        data = self.message_bytes(email, message_id, utf8=utf8)
        async with self._lock:
            try:
                client, reused = await self._connection()
                try:
                    await self._transmit(client, sender, recipients, data, utf8)
                except Exception as exc:
                    # A kept connection the relay closed (idle timeout, restart): replace it
                    # once, unless DATA began (then the relay may have the message).
                    if not reused or client.data_started or not _dropped(exc):
                        raise
                    log.info("smtp.reconnect", host=self.host, port=self.port)
                    self._drop()
                    client, _ = await self._connection()
                    await self._transmit(client, sender, recipients, data, utf8)
            except BaseException:
                # Unknown state (timeout or cancel mid-exchange, error reply): start afresh.
                self._drop()
                raise

    @staticmethod
    async def _transmit(
        client: "_Client", sender: str, recipients: list[str], data: bytes, utf8: bool
    ) -> None:
        options = []
        if utf8:
            if not client.supports_extension("smtputf8"):
                raise aiosmtplib.SMTPNotSupported(
                    "An address containing non-ASCII characters was provided, but "
                    "SMTPUTF8 is not supported by this server"
                )
            options.append("SMTPUTF8")
        await client.sendmail(sender, recipients, data, mail_options=options)

    async def _connection(self) -> tuple[_Client, bool]:
        client = self._client
        if client is not None and client.is_connected:
            client.data_started = False
            return client, True
        self._drop()
        client = _Client(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            use_tls=self.use_tls,
            timeout=self.timeout_seconds,
        )
        await client.connect()
        self._client = client
        return client, False

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """On shutdown: QUIT the kept connection (bounded), then close it."""
        async with self._lock:
            client, self._client = self._client, None
            if client is None:
                return
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.timeout_seconds):
                    await client.quit()
            client.close()

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
