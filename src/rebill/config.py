"""One settings object, read from the environment (and overridden by command-line flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

DEFAULT_DATABASE_URL = "sqlite:///rebill.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # A fixed "now" (ISO 8601 with offset) for reproducible runs; unset means the real clock.
    now: datetime | None = None
    # Alerts are e-mailed through this SMTP server when a host is set.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "alerts@rebill.localhost"
    # The platform's switch for webhook URLs on loopback, link-local or private addresses.
    webhooks_allow_private: bool = False
    # Stripe: the platform's secret key, the API base (point it at the in-repo test server),
    # the Connect webhook secret, and the public URL of this server (checkout returns there).
    stripe_secret_key: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secret: str | None = None
    # The platform's Connect client id (ca_…), for OAuth with existing Standard accounts.
    stripe_client_id: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    # scrypt's N for new password hashes; None is the standard 2**17 (services/passwords.py).
    # For tests only (REBILL_SCRYPT_N=1024 makes a hash take milliseconds): never lower it in
    # production, where every hash made is then renewed only when the setting goes back up.
    scrypt_n: int | None = None

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        now_text = os.environ.get("REBILL_NOW")
        now = None
        if now_text:
            now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
            if now.tzinfo is None:
                raise ValueError("REBILL_NOW needs a UTC offset, e.g. 2026-11-02T00:00:00Z")
        scrypt_n_text = os.environ.get("REBILL_SCRYPT_N")
        return cls(
            database_url=database_url
            or os.environ.get("REBILL_DATABASE_URL")
            or DEFAULT_DATABASE_URL,
            now=now,
            smtp_host=os.environ.get("REBILL_SMTP_HOST") or None,
            smtp_port=int(os.environ.get("REBILL_SMTP_PORT", "25")),
            smtp_from=os.environ.get("REBILL_SMTP_FROM", "alerts@rebill.localhost"),
            webhooks_allow_private=os.environ.get("REBILL_WEBHOOKS_ALLOW_PRIVATE", "")
            in ("1", "true", "yes"),
            stripe_secret_key=os.environ.get("REBILL_STRIPE_SECRET_KEY") or None,
            stripe_api_base=os.environ.get("REBILL_STRIPE_API_BASE") or None,
            stripe_webhook_secret=os.environ.get("REBILL_STRIPE_WEBHOOK_SECRET") or None,
            stripe_client_id=os.environ.get("REBILL_STRIPE_CLIENT_ID") or None,
            public_url=os.environ.get("REBILL_PUBLIC_URL", "http://127.0.0.1:8000"),
            scrypt_n=int(scrypt_n_text) if scrypt_n_text else None,
        )
