"""SmtpMailer.message_bytes writes the message directly. Proof that it is the message the
email package built before (compat32 email.mime classes serialised with email.policy.SMTP,
kept here as the reference): the same bytes apart from the random boundary and the Date,
and parsed back with the modern parser it gives the same headers and bodies."""

import email.policy
import re
from email.charset import BASE64, Charset
from email.headerregistry import BaseHeader
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser
from email.utils import formatdate, getaddresses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notification_service import mailer as mailer_module
from notification_service.mailer import SmtpMailer
from notification_service.rendering import Email

# ---- the reference: how the message was built before (email.mime, compat32) ----
_UTF8_7BIT = Charset("utf-8")
_UTF8_7BIT.body_encoding = None  # type: ignore[assignment]
_UTF8_BASE64 = Charset("utf-8")
_UTF8_BASE64.body_encoding = BASE64


def _ref_header(name: str, value: str) -> str | BaseHeader:
    if value.isascii() and len(name) + len(value) + 2 <= 78:
        return value
    return email.policy.SMTP.header_factory(name, value)


def _ref_text_part(text: str, subtype: str) -> MIMEText:
    plain = text.isascii() and all(len(line) <= 78 for line in text.splitlines())
    part = MIMEText(text, subtype, _UTF8_7BIT if plain else _UTF8_BASE64)  # type: ignore[arg-type]
    del part["MIME-Version"]
    return part


def reference_bytes(sender: str, mail: Email, message_id: str, utf8: bool) -> bytes:
    message = MIMEMultipart("alternative")
    message["From"] = _ref_header("From", sender)
    message["To"] = _ref_header("To", mail.to)
    message["Subject"] = _ref_header("Subject", mail.subject)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = _ref_header("Message-ID", message_id)
    message["X-Notification-Kind"] = _ref_header("X-Notification-Kind", mail.kind)
    message.attach(_ref_text_part(mail.text, "plain"))
    message.attach(_ref_text_part(mail.html, "html"))
    policy = email.policy.SMTPUTF8 if utf8 else email.policy.SMTP
    return message.as_bytes(policy=policy)


BOUNDARY = re.compile(rb'boundary="(={15}\d{19}==)"')
_NEWLINES = re.compile(r"\r\n|\r|\n")
DATE = re.compile(rb"\r\nDate: [^\r]*\r\n")


def _normalised(data: bytes) -> bytes:
    match = BOUNDARY.search(data)
    assert match is not None, data[:300]
    data = data.replace(match.group(1), b"BOUNDARY")
    assert len(DATE.findall(data)) == 1
    return DATE.sub(b"\r\nDate: D\r\n", data)


def _parsed(data: bytes) -> EmailMessage:
    message = BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def assert_same_message(sender: str, mail: Email, message_id: str, utf8: bool = False) -> None:
    mailer = SmtpMailer("127.0.0.1", 1025, sender=sender, timeout_seconds=5)
    new = mailer.message_bytes(mail, message_id, utf8=utf8)
    old = reference_bytes(sender, mail, message_id, utf8)
    assert _normalised(new) == _normalised(old)

    message = _parsed(new)
    assert not message.defects
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == mail.subject
    assert getaddresses([str(message["To"])]) == getaddresses([mail.to])
    assert getaddresses([str(message["From"])]) == getaddresses([sender])
    assert message["Message-ID"] == message_id
    assert message["X-Notification-Kind"] == mail.kind
    assert message["MIME-Version"] == "1.0"
    assert message["Date"].datetime is not None
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    for part, text in zip(parts, (mail.text, mail.html), strict=True):
        content = part.get_content()
        if part["Content-Transfer-Encoding"] == "base64":
            assert content == text  # exactly, line ends included
            continue
        assert part["Content-Transfer-Encoding"] == "7bit"
        # 7bit: the text with the wire's CRLF line ends.
        assert content == _NEWLINES.sub("\r\n", text)
    if not utf8:
        new.decode("ascii")  # 7-bit on the wire


SENDER = "E-Commerce Shop <no-reply@shop.local>"
LONG_LINE = "Thank you for shopping with us, " * 5
CASES = {
    "ascii": Email(
        "order-confirmation",
        "ann@example.com",
        "Order confirmed: ORD-1",
        "<p>Hi Ann</p>\n<table><tr><td>Lamp</td></tr></table>\n",
        "Thank you for your order, Ann!\n\n- Lamp x 2 @ $10.00 = $20.00\n",
        "ORD-1",
    ),
    "non-ascii name and text": Email(
        "order-confirmation",
        "Zoë Müller <zoe@example.com>",
        "Order confirmed: ORD-2",
        "<p>Danke, Zoë — schön</p>",
        "Danke, Zoë!\nGrüße",
        "ORD-2",
    ),
    "long ascii subject": Email(
        "ai-follow-up",
        "bob@example.com",
        "How is your new lamp working out? " * 4,
        "<p>short</p>",
        "short",
        "ORD-3",
    ),
    "long non-ascii subject": Email(
        "ai-follow-up",
        "bob@example.com",
        "Bestätigung für Zoë: ORD-1 — " + "ä" * 60,
        "<p>x</p>",
        "x",
        "ORD-4",
    ),
    "long lines": Email(
        "order-cancellation",
        "carol@example.com",
        "Order cancelled: ORD-5",
        "<p>" + LONG_LINE + "</p>",
        LONG_LINE + "\n" + "y" * 78 + "\n",
        "ORD-5",
    ),
    "line ends CRLF, CR, none": Email(
        "inventory-low",
        "admin@shop.local",
        "Low stock: Lamp (2 left)",
        "<p>a</p>\r\n<p>b</p>\r<p>c</p>",
        "a\r\nb\rc\n\nFrom here on\n.dot\n",
        None,
    ),
    "empty bodies": Email("inventory-low", "admin@shop.local", "s", "", "", None),
    "emoji and cjk": Email(
        "ai-follow-up",
        "李雷 <li@example.com>",
        "🎉 你的订单已发货",
        "<p>🎉 " + "你好" * 50 + "</p>",
        "🎉\n" + "你好" * 50,
        "ORD-6",
    ),
    "specials in a display name": Email(
        "order-confirmation",
        '"O\'Brien, Pat" <pat@example.com>',
        "Order confirmed: ORD-7",
        "<p>x</p>",
        "x",
        "ORD-7",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_the_same_message_as_the_email_package_builds(name: str) -> None:
    assert_same_message(SENDER, CASES[name], "<e-1@notification-service>")


def test_non_ascii_sender_and_long_message_id() -> None:
    assert_same_message(
        "Bücherladen Straße <no-reply@shop.local>",
        CASES["ascii"],
        "<" + "f" * 70 + "@notification-service>",
    )


def test_smtputf8_keeps_raw_utf8_headers() -> None:
    mail = Email("order-confirmation", "zoë@example.com", "Bestätigung", "<p>ä</p>", "ä", "O")
    assert_same_message("Bücher <s@example.com>", mail, "<e-1@notification-service>", utf8=True)
    data = SmtpMailer("h", 1, sender=SENDER, timeout_seconds=5).message_bytes(
        mail, "<e@notification-service>", utf8=True
    )
    assert "To: zoë@example.com\r\nSubject: Bestätigung\r\n".encode() in data


header_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e"),
    max_size=120,
)
# ASCII controls other than tab and line ends: the email package's builder left such a text 7bit
# while splitting its lines at VT/FF/FS-RS when measuring them (test below), so it is no
# reference there.
ASCII_CONTROLS = "".join(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F))
body_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=ASCII_CONTROLS), max_size=400
) | st.lists(
    st.sampled_from(["a" * 78, "b" * 79, "ü", "\n", "\r\n", "\r", " ", "--", "="]), max_size=20
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=header_text, subject=header_text, text=body_text, html=body_text)
def test_the_same_message_for_any_text(name: str, subject: str, text: str, html: str) -> None:
    to = f"{name} <x@example.com>" if name.strip() else "x@example.com"
    mail = Email("order-confirmation", to, subject, html, text, "O")
    mailer = SmtpMailer("127.0.0.1", 1025, sender=SENDER, timeout_seconds=5)
    try:
        old = reference_bytes(SENDER, mail, "<e-1@notification-service>", False)
    except Exception as exc:  # a name the header parser cannot take (e.g. "a:" is a group)
        with pytest.raises(type(exc)):
            mailer.message_bytes(mail, "<e-1@notification-service>")
        return
    new = mailer.message_bytes(mail, "<e-1@notification-service>")
    assert _normalised(new) == _normalised(old)
    parts = list(_parsed(new).iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]


@pytest.mark.parametrize("control", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x00", "\x7f"])
def test_a_body_with_ascii_controls_goes_out_base64_never_as_an_overlong_line(control: str) -> None:
    """70 characters and a form feed, twenty times, was sent 7bit as one line of 1,420 octets
    (a relay may refuse or cut lines past 998): str.splitlines had measured it as short lines."""
    text = ("a" * 70 + control) * 20
    mail = Email("order-confirmation", "x@example.com", "s", "<p>x</p>", text, "O")
    data = SmtpMailer("h", 1, sender=SENDER, timeout_seconds=5).message_bytes(mail, "<e@n>")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    plain = next(p for p in _parsed(data).iter_parts() if p.get_content_type() == "text/plain")
    assert plain["Content-Transfer-Encoding"] == "base64"
    assert plain.get_content() == text


@pytest.mark.parametrize("brk", ["\r", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"])
@pytest.mark.parametrize("field", ["to", "subject"])
def test_header_values_with_line_breaks_are_refused(brk: str, field: str) -> None:
    values = {"to": "a@example.com", "subject": "Hi"}
    values[field] += f"{brk}Bcc: evil@example.com"
    mail = Email("order-confirmation", values["to"], values["subject"], "<p/>", "t", "O")
    mailer = SmtpMailer("127.0.0.1", 1025, sender="s@example.com", timeout_seconds=5)
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        mailer.message_bytes(mail, "<e@notification-service>")


def test_non_ascii_line_separators_are_encoded_not_broken() -> None:
    mail = Email("ai-follow-up", "a@example.com", "Hi\u2028Bcc: evil@x\x85y", "<p/>", "t", "O")
    data = SmtpMailer("h", 1, sender=SENDER, timeout_seconds=5).message_bytes(mail, "<e@n>")
    message = _parsed(data)
    assert message["Bcc"] is None
    assert message["Subject"] == mail.subject


def test_a_boundary_found_in_a_part_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = "=" * 15 + "1" * 19 + "=="
    mail = Email("inventory-low", "a@example.com", "s", "<p/>", f"--{taken}\nend", None)
    tokens = iter([int("1" * 19), 42])
    monkeypatch.setattr(mailer_module.random, "randrange", lambda _: next(tokens))
    data = SmtpMailer("h", 1, sender=SENDER, timeout_seconds=5).message_bytes(mail, "<e@n>")
    assert b'boundary="===============0000000000000000042=="' in data
    [plain, _] = _parsed(data).iter_parts()
    assert plain.get_content() == f"--{taken}\r\nend"


@pytest.mark.parametrize("brk", ["\x85", "\u2028", "\u2029"])
def test_unicode_line_breaks_are_refused_in_raw_utf8_headers(brk: str) -> None:
    mailer = SmtpMailer("h", 1, sender=SENDER, timeout_seconds=5)
    mail = Email(
        "order-confirmation", "zoë@example.com", f"Bestätigung{brk}Bcc: x", "<p/>", "t", "O"
    )
    with pytest.raises(ValueError, match="Header values"):
        mailer.message_bytes(mail, "<e@n>", utf8=True)
    # On the plain path they are RFC 2047-encoded, never raw.
    ascii_mail = Email("order-confirmation", "x@example.com", f"Hello{brk}there", "<p/>", "t", "O")
    head = mailer.message_bytes(ascii_mail, "<e@n>").split(b"\r\n\r\n")[0]
    assert head.isascii()
