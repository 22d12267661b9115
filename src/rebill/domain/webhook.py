"""Standard Webhooks signatures (https://www.standardwebhooks.com): the signed content is
`{id}.{timestamp}.{body}`, HMAC-SHA256 with the secret's base64-decoded bytes (after the
`whsec_` prefix), sent as `webhook-signature: v1,<base64>`. Also the retry schedule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

SECRET_PREFIX = "whsec_"
EVENT_TYPES = (
    "invoice.finalized",
    "invoice.paid",
    "payment.failed",
    "invoice.payment_failed",
    "credit_note.issued",
    "alert.fired",
    "credits.low",
    "sub_account.suspended",
    "sub_account.reinstated",
)
# Waits before each retry after a failed attempt; after the last, the delivery fails.
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "content-type": "application/json",
    }


def next_wait(attempts: int) -> timedelta | None:
    """The wait after the `attempts`-th failed attempt, or None when retries are exhausted."""
    return RETRY_SCHEDULE[attempts - 1] if attempts <= len(RETRY_SCHEDULE) else None
