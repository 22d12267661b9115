"""E-mail without an SMTP server (`REBILL_MAIL_DIR`, the demo): each message a `.eml` file that
reads back as the message sent; SMTP wins when both are set; neither means no mailer."""

from __future__ import annotations

from email import message_from_bytes
from pathlib import Path
from typing import Any

from rebill.adapters.mail.files import FileMailer
from rebill.adapters.mail.smtp import SmtpMailer
from rebill.bootstrap import App
from rebill.config import Settings


def app_with(**settings: Any) -> App:
    return App(settings=Settings(**settings), engine=None)  # type: ignore[arg-type]


def test_messages_are_written_as_eml_files(tmp_path: Path) -> None:
    mailer = app_with(mail_dir=str(tmp_path / "mail")).mailer
    assert isinstance(mailer, FileMailer)
    mailer.send(["dana@acme.example"], "[Acme] Welcome", "Hello,\nthe link: http://x/y\n")
    mailer.send(["other@acme.example"], "Second", "Two")
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2 and files[0].name.endswith("-dana@acme.example.eml")
    message = message_from_bytes(files[0].read_bytes())
    assert message["To"] == "dana@acme.example" and message["Subject"] == "[Acme] Welcome"
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes) and "http://x/y" in payload.decode()


def test_smtp_wins_and_no_setting_means_no_mailer(tmp_path: Path) -> None:
    both = app_with(smtp_host="127.0.0.1", mail_dir=str(tmp_path)).mailer
    assert isinstance(both, SmtpMailer)
    assert app_with().mailer is None
