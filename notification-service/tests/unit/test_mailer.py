from typing import Any

import pytest

from notification_service import mailer as mailer_module
from notification_service.mailer import SmtpMailer
from notification_service.rendering import Email

EMAIL = Email(
    "order-confirmation", "ann@example.com", "Order confirmed: ORD-1", "<p>Hi</p>", "Hi", "ORD-1"
)


def test_message_is_multipart_alternative_with_a_derived_message_id() -> None:
    smtp = SmtpMailer("127.0.0.1", 1025, sender="Shop <no-reply@shop.local>", timeout_seconds=5)
    message = smtp.build_message(EMAIL, "<e-1@notification-service>")
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

    async def fake_send(message: Any, **options: Any) -> None:
        seen.update(options)

    monkeypatch.setattr(mailer_module.aiosmtplib, "send", fake_send)
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
