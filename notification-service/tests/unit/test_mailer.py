import email
import email.policy
from typing import Any

import aiosmtplib
import pytest

from notification_service import mailer as mailer_module
from notification_service.mailer import SmtpMailer
from notification_service.rendering import Email


class FakeSmtp:
    """Stands in for the aiosmtplib client: `fail` is a list of (step, error) to raise once."""

    made: list["FakeSmtp"] = []

    def __init__(self, **options: Any) -> None:
        self.is_connected = False
        self.data_started = False
        self.fail: list[tuple[str, Exception]] = []
        self.sent: list[bytes] = []
        FakeSmtp.made.append(self)

    async def connect(self) -> None:
        self.is_connected = True

    def supports_extension(self, name: str) -> bool:
        return True

    async def sendmail(
        self, sender: str, recipients: list[str], data: bytes, **options: Any
    ) -> None:
        if self.fail and self.fail[0][0] == "mail":
            raise self.fail.pop(0)[1]
        self.data_started = True
        if self.fail and self.fail[0][0] == "data":
            raise self.fail.pop(0)[1]
        self.sent.append(data)

    async def quit(self) -> None:
        self.is_connected = False

    def close(self) -> None:
        self.is_connected = False


EMAIL = Email(
    "order-confirmation", "ann@example.com", "Order confirmed: ORD-1", "<p>Hi</p>", "Hi", "ORD-1"
)


def test_message_is_multipart_alternative_with_a_derived_message_id() -> None:
    smtp = SmtpMailer("127.0.0.1", 1025, sender="Shop <no-reply@shop.local>", timeout_seconds=5)
    # What goes on the wire, parsed back.
    message = email.message_from_bytes(
        smtp.message_bytes(EMAIL, "<e-1@notification-service>"), policy=email.policy.default
    )
    assert isinstance(message, email.message.EmailMessage)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Message-ID"] == "<e-1@notification-service>"
    assert message["X-Notification-Kind"] == "order-confirmation"
    assert message["To"] == "ann@example.com"
    assert message["From"] == "Shop <no-reply@shop.local>"


async def test_starttls_auth_and_timeout_reach_the_smtp_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    class FakeClient(FakeSmtp):
        def __init__(self, **options: Any) -> None:
            super().__init__()
            seen.update(options)

    monkeypatch.setattr(mailer_module, "_Client", FakeClient)
    smtp = SmtpMailer(
        "smtp.example.com",
        587,
        sender="s@example.com",
        timeout_seconds=7,
        username="user",
        password="secret",
        starttls=True,
    )
    await smtp.send(EMAIL, "<e-2@notification-service>")
    assert seen == {
        "hostname": "smtp.example.com",
        "port": 587,
        "username": "user",
        "password": "secret",
        "start_tls": True,
        "use_tls": False,
        "timeout": 7,
    }


@pytest.fixture
def fake_smtp(monkeypatch: pytest.MonkeyPatch) -> type[FakeSmtp]:
    FakeSmtp.made = []
    monkeypatch.setattr(mailer_module, "_Client", FakeSmtp)
    return FakeSmtp


async def test_a_kept_connection_dropped_before_data_is_replaced_once(
    fake_smtp: type[FakeSmtp],
) -> None:
    smtp = SmtpMailer("127.0.0.1", 1025, sender="s@example.com", timeout_seconds=5)
    await smtp.send(EMAIL, "<e-1@notification-service>")
    [kept] = fake_smtp.made
    kept.fail = [("mail", aiosmtplib.SMTPServerDisconnected("gone"))]
    await smtp.send(EMAIL, "<e-2@notification-service>")
    assert len(fake_smtp.made) == 2
    assert not kept.is_connected
    assert [len(c.sent) for c in fake_smtp.made] == [1, 1]
    # A relay's 421 (closing the idle connection) counts as dropped too.
    fake_smtp.made[1].fail = [("mail", aiosmtplib.SMTPResponseException(421, "idle"))]
    await smtp.send(EMAIL, "<e-3@notification-service>")
    assert [len(c.sent) for c in fake_smtp.made] == [1, 1, 1]


async def test_a_connection_that_dies_during_data_raises_and_is_not_resent(
    fake_smtp: type[FakeSmtp],
) -> None:
    smtp = SmtpMailer("127.0.0.1", 1025, sender="s@example.com", timeout_seconds=5)
    await smtp.send(EMAIL, "<e-1@notification-service>")
    [kept] = fake_smtp.made
    kept.fail = [("data", aiosmtplib.SMTPServerDisconnected("gone mid-DATA"))]
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await smtp.send(EMAIL, "<e-2@notification-service>")
    assert len(fake_smtp.made) == 1
    assert not kept.is_connected
    await smtp.send(EMAIL, "<e-3@notification-service>")  # the next send connects afresh
    assert len(fake_smtp.made) == 2


async def test_a_fresh_connection_failing_is_not_retried_and_refusals_are_not_retried(
    fake_smtp: type[FakeSmtp], monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp = SmtpMailer("127.0.0.1", 1025, sender="s@example.com", timeout_seconds=5)
    original = FakeSmtp.connect

    async def connect_then_drop(self: FakeSmtp) -> None:
        await original(self)
        self.fail = [("mail", aiosmtplib.SMTPServerDisconnected("gone"))]

    monkeypatch.setattr(FakeSmtp, "connect", connect_then_drop)
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await smtp.send(EMAIL, "<e-1@notification-service>")
    assert len(fake_smtp.made) == 1
    monkeypatch.setattr(FakeSmtp, "connect", original)
    await smtp.send(EMAIL, "<e-2@notification-service>")
    fake_smtp.made[-1].fail = [("mail", aiosmtplib.SMTPSenderRefused(550, "no", "s"))]
    with pytest.raises(aiosmtplib.SMTPSenderRefused):
        await smtp.send(EMAIL, "<e-3@notification-service>")
    assert len(fake_smtp.made) == 2


async def test_aclose_quits_the_kept_connection(fake_smtp: type[FakeSmtp]) -> None:
    smtp = SmtpMailer("127.0.0.1", 1025, sender="s@example.com", timeout_seconds=5)
    await smtp.aclose()  # nothing open: fine
    await smtp.send(EMAIL, "<e-1@notification-service>")
    await smtp.aclose()
    assert not fake_smtp.made[0].is_connected


async def test_a_non_ascii_address_is_sent_with_smtputf8_and_raw_utf8_headers(
    fake_smtp: type[FakeSmtp], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    original = FakeSmtp.sendmail

    async def recording(self: FakeSmtp, *args: Any, **options: Any) -> None:
        seen.update(options)
        await original(self, *args, **options)

    monkeypatch.setattr(FakeSmtp, "sendmail", recording)
    smtp = SmtpMailer("127.0.0.1", 1025, sender="s@example.com", timeout_seconds=5)
    to_zoe = Email("order-confirmation", "zoë@example.com", "Bestätigung", "<p/>", "t", "O")
    await smtp.send(to_zoe, "<e-1@notification-service>")
    assert seen == {"mail_options": ["SMTPUTF8"]}
    [data] = fake_smtp.made[0].sent
    assert "To: zoë@example.com\r\n".encode() in data
    await smtp.send(EMAIL, "<e-2@notification-service>")  # ASCII: no SMTPUTF8
    assert seen == {"mail_options": []}

    monkeypatch.setattr(FakeSmtp, "supports_extension", lambda self, name: False)
    await smtp.aclose()
    with pytest.raises(aiosmtplib.SMTPNotSupported, match="SMTPUTF8"):
        await smtp.send(to_zoe, "<e-3@notification-service>")
