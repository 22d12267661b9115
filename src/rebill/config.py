"""One settings object, read from the environment (and overridden by command-line flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "sqlite:///rebill.db"
secret_key_length_min = 32


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # A fixed "now" (ISO 8601 with offset) for reproducible runs; unset means the real clock.
    now: datetime | None = None
    # Alerts are e-mailed through this SMTP server when a host is set.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "alerts@rebill.localhost"
    # No SMTP server: e-mails (alerts, invitations) written as .eml files into this directory
    # (REBILL_MAIL_DIR; `rebill demo --serve` uses ./rebill-demo-mail). SMTP wins when both.
    mail_dir: str | None = None
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
    # The platform's own hosts (console, sign-in), besides public_url's: never an agency's
    # portal domain. REBILL_PLATFORM_HOSTS, comma-separated.
    platform_hosts: tuple[str, ...] = ()
    # Behind a TLS proxy: cookies always Secure and HSTS on every page (REBILL_FORCE_HTTPS).
    force_https: bool = False
    # The Swagger UI page at /docs (REBILL_API_DOCS=1); off by default: it loads from a CDN.
    api_docs: bool = False
    # REBILL_METRICS_TOKEN: when set, GET /metrics answers only `Authorization: Bearer <it>`
    # (a Prometheus scrape config's `authorization.credentials`); unset, /metrics is open and
    # belongs on the monitoring network only.
    metrics_token: str | None = None

    # The platform's own secret (signs Connect onboarding and OAuth states); never the Stripe
    # key. Unset: rebill generates one on first use and keeps it in the database.
    secret_key: str | None = None
    # scrypt's N for new password hashes; None is the standard 2**17 (services/access/passwords.py).
    # For tests only (REBILL_SCRYPT_N=1024 makes a hash take milliseconds): never lower it in
    # production, where every hash made is then renewed only when the setting goes back up.
    scrypt_n: int | None = None

    def own_hosts(self) -> frozenset[str]:
        """The platform's own host names: REBILL_PLATFORM_HOSTS and REBILL_PUBLIC_URL's."""
        public = urlsplit(self.public_url).hostname or ""
        return frozenset(h.strip().lower() for h in (*self.platform_hosts, public) if h.strip())

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        now_text = os.environ.get("REBILL_NOW")
        now = None
        if now_text:
            now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
            if now.tzinfo is None:
                raise ValueError("REBILL_NOW needs a UTC offset, e.g. 2026-11-02T00:00:00Z")
        secret_key = os.environ.get("REBILL_SECRET_KEY") or None
        stripe_secret_key = os.environ.get("REBILL_STRIPE_SECRET_KEY") or None
        if secret_key is not None and len(secret_key) < secret_key_length_min:
            raise ValueError(
                f"REBILL_SECRET_KEY needs at least {secret_key_length_min} characters "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        if secret_key is not None and secret_key == stripe_secret_key:
            raise ValueError("REBILL_SECRET_KEY must not be the Stripe secret key")
        scrypt_n_text = os.environ.get("REBILL_SCRYPT_N")
        return cls(
            database_url=database_url
            or os.environ.get("REBILL_DATABASE_URL")
            or DEFAULT_DATABASE_URL,
            now=now,
            smtp_host=os.environ.get("REBILL_SMTP_HOST") or None,
            smtp_port=int(os.environ.get("REBILL_SMTP_PORT", "25")),
            smtp_from=os.environ.get("REBILL_SMTP_FROM", "alerts@rebill.localhost"),
            mail_dir=os.environ.get("REBILL_MAIL_DIR") or None,
            webhooks_allow_private=os.environ.get("REBILL_WEBHOOKS_ALLOW_PRIVATE", "")
            in ("1", "true", "yes"),
            stripe_secret_key=stripe_secret_key,
            stripe_api_base=os.environ.get("REBILL_STRIPE_API_BASE") or None,
            stripe_webhook_secret=os.environ.get("REBILL_STRIPE_WEBHOOK_SECRET") or None,
            stripe_client_id=os.environ.get("REBILL_STRIPE_CLIENT_ID") or None,
            public_url=os.environ.get("REBILL_PUBLIC_URL", "http://127.0.0.1:8000"),
            force_https=os.environ.get("REBILL_FORCE_HTTPS", "") in ("1", "true", "yes"),
            api_docs=os.environ.get("REBILL_API_DOCS", "") in ("1", "true", "yes"),
            metrics_token=os.environ.get("REBILL_METRICS_TOKEN") or None,
            platform_hosts=tuple(
                h for h in os.environ.get("REBILL_PLATFORM_HOSTS", "").split(",") if h.strip()
            ),
            secret_key=secret_key,
            scrypt_n=int(scrypt_n_text) if scrypt_n_text else None,
        )
