"""The mailer against the real aiosmtpd sink: non-ASCII headers round-trip, the kept
connection is reused, and a relay that went away and came back is reconnected to."""

import asyncio
import contextlib
import email
import email.policy
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import pytest

from devstack.smtp_sink import read_mailbox
from notification_service.mailer import SmtpMailer
from notification_service.rendering import Email


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """`python -m devstack.smtp_sink` in a subprocess that can be stopped and started again."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devstack.smtp_sink",
                "--port",
                str(self.port),
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        assert b"listening" in self.process.stdout.readline()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    server = Sink(tmp_path / "mail")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _email(to: str, subject: str, text: str = "Hallo Zoë,\ndanke.\n") -> Email:
    html = "<p>Hallo Zoë, danke für <b>ORD-1</b></p>" + "<p>x</p>" * 30
    return Email("order-confirmation", to, subject, html, text, "ORD-1")


async def test_non_ascii_subject_and_display_names_round_trip(sink: Sink) -> None:
    sender = "Bücherladen Straße <no-reply@shop.local>"
    to = f"Zoë Müller <zoe-{uuid.uuid4().hex[:6]}@example.com>"
    subject = "Bestätigung für Zoë: ORD-1 — " + "ä" * 60  # long: folded, still one subject
    mailer = SmtpMailer("127.0.0.1", sink.port, sender=sender, timeout_seconds=5)
    sent = _email(to, subject)
    await mailer.send(sent, "<e-utf8@notification-service>")
    await mailer.aclose()

    [stored] = read_mailbox(sink.folder)
    raw = stored.path.read_bytes()
    raw.decode("ascii")  # every header and body line is 7-bit on the wire
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == subject
    assert getaddresses([str(message["From"])]) == [("Bücherladen Straße", "no-reply@shop.local")]
    assert getaddresses([str(message["To"])]) == getaddresses([to])
    assert message["Message-ID"] == "<e-utf8@notification-service>"
    assert message["X-Notification-Kind"] == "order-confirmation"
    assert message["Date"] is not None
    assert stored.mail_from == "no-reply@shop.local"
    assert stored.rcpt_to == (getaddresses([to])[0][1],)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    assert parts[0].get_content() == sent.text
    assert parts[1].get_content() == sent.html


async def test_one_connection_is_reused_for_many_emails(sink: Sink) -> None:
    mailer = SmtpMailer("127.0.0.1", sink.port, sender="s@shop.local", timeout_seconds=5)
    await mailer.send(_email("a@example.com", "one"), "<e-1@notification-service>")
    first = mailer._client
    await asyncio.gather(
        *(
            mailer.send(_email(f"{i}@example.com", f"n{i}"), f"<e-{i}@notification-service>")
            for i in range(2, 7)
        )
    )
    assert mailer._client is first
    assert first is not None
    assert first.is_connected
    await mailer.aclose()
    assert mailer._client is None
    assert not first.is_connected
    assert sorted(m.subject for m in read_mailbox(sink.folder)) == [
        "n2",
        "n3",
        "n4",
        "n5",
        "n6",
        "one",
    ]


async def test_relay_restarted_between_sends_reconnects_and_sends_each_once(sink: Sink) -> None:
    mailer = SmtpMailer("127.0.0.1", sink.port, sender="s@shop.local", timeout_seconds=5)
    await mailer.send(_email("a@example.com", "before"), "<e-a@notification-service>")
    sink.stop()
    with pytest.raises(OSError, match="onnect"):  # relay away: the send fails (the consumer pauses)
        await mailer.send(_email("b@example.com", "while down"), "<e-b@notification-service>")
    sink.start()
    await mailer.send(_email("c@example.com", "after"), "<e-c@notification-service>")
    await mailer.aclose()
    assert [m.subject for m in read_mailbox(sink.folder)] == ["before", "after"]


async def test_connection_the_relay_dropped_while_idle_is_replaced(sink: Sink) -> None:
    mailer = SmtpMailer("127.0.0.1", sink.port, sender="s@shop.local", timeout_seconds=5)
    await mailer.send(_email("a@example.com", "first"), "<e-1@notification-service>")
    kept = mailer._client
    sink.stop()  # the relay restarts: the kept connection is gone
    sink.start()
    await mailer.send(_email("b@example.com", "second"), "<e-2@notification-service>")
    assert mailer._client is not kept
    with contextlib.suppress(Exception):
        await mailer.aclose()
    assert [m.subject for m in read_mailbox(sink.folder)] == ["first", "second"]
