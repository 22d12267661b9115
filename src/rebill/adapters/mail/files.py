"""Mail written to a directory instead of sent (`REBILL_MAIL_DIR`, and `rebill demo --serve`
without an SMTP server): one RFC 5322 `.eml` file per message, named by time and a counter,
for a person trying rebill on one machine to open. Never the production path: that is SMTP."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path


class FileMailer:
    def __init__(self, directory: str | Path, sender: str) -> None:
        self.directory = Path(directory)
        self.sender = sender
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, recipients: Sequence[str], subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = subject
        message.set_content(body)
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            number = next(self._counter)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.directory / f"{stamp}-{os.getpid()}-{number:04d}.eml"
        path.write_bytes(bytes(message))
