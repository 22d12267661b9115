"""Mail over real SMTP (any server: a relay in production, aiosmtpd in tests)."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from email.message import EmailMessage

smtp_timeout_seconds = 10


class SmtpMailer:
    def __init__(self, host: str, port: int, sender: str) -> None:
        self.host, self.port, self.sender = host, port, sender

    def send(self, recipients: Sequence[str], subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=smtp_timeout_seconds) as client:
            client.send_message(message)
