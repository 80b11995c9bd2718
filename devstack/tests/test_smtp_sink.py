"""The SMTP sink: really started as a stack component on a free port, spoken to over SMTP,
its mailbox read back, and stopped by PID."""

import asyncio
import smtplib
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from devstack import local_stack
from devstack.pidfile import is_alive
from devstack.profiles import PROFILES, get_profile
from devstack.progress import Progress
from devstack.services import free_port, get_service, service_env
from devstack.smtp_sink import MailFolderHandler, read_mailbox


def _message(to: str, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "shop@example.com"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("plain body")
    message.add_alternative("<p>html <b>body</b></p>", subtype="html")
    return message


def test_profiles_give_the_sink_its_own_port_each() -> None:
    assert (PROFILES["dev"].smtp_port, PROFILES["test"].smtp_port, PROFILES["bench"].smtp_port) == (
        1025,
        11025,
        21025,
    )
    assert get_profile("dev", environ={"SMTP_PORT": "2525"}).smtp_port == 2525
    env = service_env(get_service("notification-service"), PROFILES["test"])
    assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("127.0.0.1", "11025")


@pytest.mark.integration
def test_sink_stores_every_accepted_message_and_stops_by_pid(tmp_path: Path) -> None:
    profile = replace(PROFILES["test"], name="it", smtp_port=free_port())
    with local_stack(
        {"smtp"}, profile, root=tmp_path, progress=Progress(quiet=True), timeout=30
    ) as ep:
        sink = ep.component("smtp")
        pid = sink.pid
        assert pid is not None
        assert sink.is_running()
        with smtplib.SMTP(profile.host, profile.smtp_port, timeout=10) as client:
            client.send_message(_message("a@example.com", "first"))
            client.send_message(
                _message("b@example.com", "second"), to_addrs=["b@example.com", "c@example.com"]
            )
        mails = read_mailbox(ep.stack.mail_folder())
        assert [m.subject for m in mails] == ["first", "second"]
        assert mails[0].rcpt_to == ("a@example.com",)
        assert mails[1].rcpt_to == ("b@example.com", "c@example.com")
        assert mails[0].mail_from == "shop@example.com"
        assert mails[0].body("plain").strip() == "plain body"
        assert "<b>body</b>" in mails[0].body("html")
        assert ep.stack.mail_folder() == tmp_path / ".local/it/smtp/data"
    assert not is_alive(pid)
    assert not (tmp_path / ".local/it/smtp/pid").exists()


def test_handler_never_leaves_a_partial_file(tmp_path: Path) -> None:
    class Envelope:
        mail_from = "x@example.com"
        rcpt_tos = ["y@example.com"]
        original_content = _message("y@example.com", "s").as_bytes()
        content = original_content

    reply = asyncio.run(MailFolderHandler(tmp_path).handle_DATA(None, None, Envelope()))
    assert reply.startswith("250")
    assert [p.suffix for p in tmp_path.iterdir()] == [".eml"]
    assert read_mailbox(tmp_path)[0].rcpt_to == ("y@example.com",)
    assert read_mailbox(tmp_path / "missing") == []
