"""SMTP delivery with aiosmtplib: STARTTLS or implicit TLS and auth as configured, one timeout
bound for every send, multipart/alternative (plain text first, HTML preferred).

The connection to the relay is kept open and reused (one at a time, under a lock); a kept
connection the server has dropped is replaced once, but only while nothing of the message has
been transmitted, so reuse never sends an email twice."""

import asyncio
import base64
import contextlib
import email.policy as email_policy
import random
import re
import sys
from email.policy import EmailPolicy
from email.utils import formatdate, getaddresses, parseaddr
from typing import Any

import aiosmtplib
import structlog

from notification_service.rendering import Email

log = structlog.get_logger(__name__)

SMTP_POLICY = email_policy.SMTP
_MAX_LINE = SMTP_POLICY.max_line_length or 78
# Line breaks a header value may not hold: CR and LF, and the ASCII controls Python's
# header folding also splits lines at (str.splitlines), which it would turn into CRLF, i.e.
# a new header. The Unicode breaks (U+0085, U+2028, U+2029) are RFC 2047-encoded on the plain
# path, but go out as raw UTF-8 under SMTPUTF8, where a reader splitting on them would see a new
# line: refused there too.
_HEADER_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e")
_UTF8_HEADER_BREAKS = _HEADER_BREAKS | frozenset("\x85\u2028\u2029")
_NEWLINES = re.compile(r"\r\n|\r|\n")
# What a 7bit part may hold as it is: printable ASCII, tab and line ends.
_7BIT_SAFE = re.compile(r"[\t\r\n\x20-\x7e]*")
# Each part's headers, as the compat32 MIMEText with a utf-8 charset writes them (without
# MIME-Version, which only the top level carries, as EmailMessage does).
_PART_HEAD = {
    (subtype, cte): (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
    ).encode("ascii")
    for subtype in ("plain", "html")
    for cte in ("7bit", "base64")
}
# What email.generator picks: "=" * 15, a random 19-digit number, "==".
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


def _dropped(exc: Exception) -> bool:
    """Connection trouble, or the relay's 421 "closing the connection" (idle timeout)."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == 421
    return isinstance(exc, (aiosmtplib.SMTPServerDisconnected, ConnectionError))


def _header(name: str, value: str, policy: "EmailPolicy[Any]") -> bytes:
    """One header as transmitted. Short ASCII values go as they are; anything else is folded
    and RFC 2047-encoded (raw UTF-8 under SMTPUTF8) by the header classes EmailMessage uses,
    so non-ASCII names and subjects are encoded."""
    if not (_UTF8_HEADER_BREAKS if policy.utf8 else _HEADER_BREAKS).isdisjoint(value):
        raise ValueError("Header values may not contain linefeed or carriage return characters")
    if value.isascii() and len(name) + len(value) + 2 <= _MAX_LINE:
        return f"{name}: {value}\r\n".encode("ascii")
    return policy.fold_binary(name, SMTP_POLICY.header_factory(name, value))


def _crlf(text: str) -> str:
    if "\r" not in text:
        return text.replace("\n", "\r\n")
    return _NEWLINES.sub("\r\n", text)


def _text_part(text: str, subtype: str) -> bytes:
    """A text/<subtype> part, charset utf-8: 7bit when it is ASCII without controls other
    than tab and line ends, in lines of at most 78 characters between the line ends that
    become CRLF (CR, LF, CRLF: the lines the relay sees), otherwise base64 (76-character
    lines), which survives any relay. (str.splitlines also ends lines at VT, FF and FS-RS,
    which stay in the bytes: a text of 70 characters and a form feed, twenty times, measured
    as 78-character lines but went out as one line of 1,420 octets.)"""
    if (
        text.isascii()
        and _7BIT_SAFE.fullmatch(text) is not None
        and all(len(line) <= _MAX_LINE for line in _NEWLINES.split(text))
    ):
        return _PART_HEAD[subtype, "7bit"] + _crlf(text).encode("ascii")
    encoded = base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
    return _PART_HEAD[subtype, "base64"] + encoded


def _boundary(parts: tuple[bytes, ...]) -> bytes:
    """A random boundary no part contains (a 7bit part is the customer's text)."""
    while True:
        token = random.randrange(sys.maxsize)
        boundary = f"==============={token:0{_BOUNDARY_DIGITS}d}==".encode("ascii")
        if not any(boundary in part for part in parts):
            return boundary


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
        self._from_lines: dict[bool, bytes] = {}
        self._envelope_sender = parseaddr(sender)[1] or sender

    def message_bytes(self, email: Email, message_id: str, *, utf8: bool = False) -> bytes:
        """The message as transmitted: multipart/alternative (plain text first, HTML
        preferred), CRLF line ends, RFC 2047 headers (raw UTF-8 headers when an address needs
        SMTPUTF8, as aiosmtplib's send_message does). Written directly, byte for byte what
        the compat32 email.mime classes serialised with email.policy.SMTP give (the unit tests
        compare the two), at a fraction of the generator's cost."""
        policy = email_policy.SMTPUTF8 if utf8 else SMTP_POLICY
        parts = (_text_part(email.text, "plain"), _text_part(email.html, "html"))
        boundary = _boundary(parts)
        return b"".join(
            (
                b'Content-Type: multipart/alternative;\r\n boundary="',
                boundary,
                b'"\r\nMIME-Version: 1.0\r\n',
                self._from_header(policy),
                _header("To", email.to, policy),
                _header("Subject", email.subject, policy),
                b"Date: ",
                formatdate(localtime=False).encode("ascii"),
                b"\r\n",
                # Derived from the event id: a duplicate that slipped through is recognisable.
                _header("Message-ID", message_id, policy),
                _header("X-Notification-Kind", email.kind, policy),
                b"\r\n--",
                boundary,
                b"\r\n",
                parts[0],
                b"\r\n--",
                boundary,
                b"\r\n",
                parts[1],
                b"\r\n--",
                boundary,
                b"--\r\n",
            )
        )

    def _from_header(self, policy: "EmailPolicy[Any]") -> bytes:
        """The From header, the same for every message: encoded once per policy."""
        line = self._from_lines.get(policy.utf8)
        if line is None:
            line = self._from_lines[policy.utf8] = _header("From", self.sender, policy)
        return line

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
        sender = self._envelope_sender
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
