"""What leaves rebill as a message: e-mail (alerts) and agency webhooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Mailer(Protocol):
    def send(self, recipients: Sequence[str], subject: str, body: str) -> None: ...


class WebhookSender(Protocol):
    """Sends to agency-chosen URLs: it must connect only to public addresses (unless the
    platform allows private ones), checked at every send, and word every failure short of an
    HTTP status the same way (a scanner learns nothing from refused versus timed out)."""

    def post(self, url: str, headers: dict[str, str], body: str) -> str | None:
        """POST the body; None on a 2xx answer, else a short error text."""
        ...
