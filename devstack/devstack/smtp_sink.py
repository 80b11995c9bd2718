"""A real SMTP server (aiosmtpd) that stores every message it accepts as an .eml file.

    python -m devstack.smtp_sink --port 11025 --dir .local/test/smtp/data

The local stack's stand-in for a mail relay: notification-service speaks real SMTP to it,
and tests or a demo read what was "sent" from the folder. Each file is written to a
temporary name and renamed, so a reader never sees half a message. The envelope is kept
in two headers put in front of the message: `X-Sink-Mail-From` and `X-Sink-Rcpt-To`.
"""

import argparse
import asyncio
import contextlib
import email
import email.policy
import os
import signal
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ENVELOPE_FROM = "X-Sink-Mail-From"
ENVELOPE_TO = "X-Sink-Rcpt-To"


class MailFolderHandler:
    """aiosmtpd handler: every DATA command becomes one file in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        head = (
            f"{ENVELOPE_FROM}: {envelope.mail_from}\r\n"
            f"{ENVELOPE_TO}: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        partial = self.folder / f".{name}.tmp"
        partial.write_bytes(head + content)
        os.replace(partial, self.folder / f"{name}.eml")
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class StoredMail:
    path: Path
    mail_from: str
    rcpt_to: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def body(self, subtype: str) -> str:
        """The text of the `text/<subtype>` part ("plain" or "html"), or ""."""
        part = self.message.get_body(preferencelist=(subtype,))
        return str(part.get_content()) if part is not None else ""


def read_mailbox(folder: Path) -> list[StoredMail]:
    """Every message in the folder, oldest first."""
    if not folder.is_dir():
        return []
    mails = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        rcpt = tuple(a.strip() for a in str(message[ENVELOPE_TO] or "").split(",") if a.strip())
        mails.append(StoredMail(path, str(message[ENVELOPE_FROM] or ""), rcpt, message))
    return mails


async def serve(host: str, port: int, folder: Path) -> None:
    from aiosmtpd.smtp import SMTP

    handler = MailFolderHandler(folder)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="devstack-smtp-sink", data_size_limit=10 * 2**20),
        host=host,
        port=port,
    )
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    print(f"smtp sink listening on {host}:{port}, storing in {folder}", flush=True)
    try:
        await stopping.wait()
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.smtp_sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="folder for the .eml files")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
