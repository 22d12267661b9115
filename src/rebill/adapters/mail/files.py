"""Mail written to a directory instead of sent (`REBILL_MAIL_DIR`, and `rebill demo --serve`
without an SMTP server): one RFC 5322 `.eml` file per message, named by time, a counter and
its first recipient, for a person trying rebill on one machine to find and open. Never the
production path: that is SMTP."""

from __future__ import annotations

import itertools
import os
import re
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
        to = re.sub(r"[^A-Za-z0-9.@_-]", "_", recipients[0] if recipients else "nobody")[:80]
        path = self.directory / f"{stamp}-{os.getpid()}-{number:04d}-{to}.eml"
        path.write_bytes(bytes(message))
