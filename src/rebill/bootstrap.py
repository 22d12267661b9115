"""The composition root: the only place that picks concrete adapters for the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from rebill.adapters.clock import FixedClock, SystemClock
from rebill.adapters.db.engine import make_engine, migrate
from rebill.adapters.db.store import unit_of_work_factory
from rebill.adapters.gateways.stripe_gateway import StripeGateway
from rebill.adapters.mail.smtp import SmtpMailer
from rebill.adapters.pdf.renderer import PdfInvoiceRenderer
from rebill.adapters.webhooks.http import HttpWebhookSender
from rebill.config import Settings
from rebill.services.gateway import GatewayContext
from rebill.services.passwords import PasswordHasher
from rebill.services.ports import (
    Clock,
    DomainResolver,
    InvoiceRenderer,
    Mailer,
    PaymentGateway,
    UnitOfWorkFactory,
    WebhookSender,
)


@dataclass
class App:
    settings: Settings
    engine: Engine
    uow: UnitOfWorkFactory
    clock: Clock
    mailer: Mailer | None
    webhook_sender: WebhookSender
    gateway: GatewayContext
    renderer: InvoiceRenderer
    passwords: PasswordHasher
    resolver: DomainResolver | None = None  # DNS, made on first use (tests set a double)

    def dns(self) -> DomainResolver:
        if self.resolver is None:
            from rebill.adapters.dns import DnsResolver

            self.resolver = DnsResolver()
        return self.resolver

    def dispose(self) -> None:
        self.engine.dispose()


def build(settings: Settings, migrate_schema: bool = True) -> App:
    engine = make_engine(settings.database_url)
    if migrate_schema:
        migrate(engine)
    clock: Clock = FixedClock(settings.now) if settings.now else SystemClock()
    mailer: Mailer | None = None
    if settings.smtp_host:
        mailer = SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_from)
    stripe: PaymentGateway | None = None
    if settings.stripe_secret_key:
        stripe = StripeGateway(
            settings.stripe_secret_key,
            settings.stripe_api_base,
            settings.stripe_webhook_secret,
            settings.stripe_client_id,
        )
    return App(
        settings=settings,
        engine=engine,
        uow=unit_of_work_factory(engine),
        clock=clock,
        mailer=mailer,
        webhook_sender=HttpWebhookSender(allow_private=settings.webhooks_allow_private),
        gateway=GatewayContext(
            {"stripe": stripe} if stripe else {},
            settings.public_url.rstrip("/"),
            settings.secret_key or "",  # empty: the secret generated for this database
        ),
        renderer=PdfInvoiceRenderer(),
        passwords=PasswordHasher(settings.scrypt_n),
    )


def database_is_empty(app: App) -> bool:
    from sqlalchemy import inspect, text

    with app.engine.connect() as connection:
        if "agencies" not in inspect(connection).get_table_names():
            return True
        return int(connection.execute(text("SELECT COUNT(*) FROM agencies")).scalar_one()) == 0


def run_stripe_test_server(
    host: str, port: int, webhook_url: str | None, webhook_secret: str | None
) -> None:
    """The in-repo Stripe test server, in the foreground (`rebill stripe-test-server`)."""
    from rebill.adapters.gateways.stripe_server import server

    if webhook_secret:
        server.main(host=host, port=port, webhook_url=webhook_url, webhook_secret=webhook_secret)
    else:
        server.main(host=host, port=port, webhook_url=webhook_url)


DEMO_STRIPE_KEY = "sk_test_rebill_demo"
DEMO_WEBHOOK_SECRET = "whsec_cmViaWxsLWRlbW8tc2VjcmV0LWtleQ=="


def start_demo_stripe(settings: Settings, public_url: str) -> tuple[Settings, str, Any]:
    """Start the in-repo Stripe test server for `rebill demo --serve`, with one onboarded
    connected account for the demo agency. Returns the settings pointing at it, the account id
    and the server (call `.stop()` when done)."""
    import dataclasses

    import httpx

    from rebill.adapters.gateways.stripe_server.server import StripeTestServer

    server = StripeTestServer(
        "127.0.0.1",
        0,
        webhook_url=f"{public_url}/webhooks/stripe",
        webhook_secret=DEMO_WEBHOOK_SECRET,
    ).start()
    answer = httpx.post(
        f"{server.url}/v1/accounts",
        auth=(DEMO_STRIPE_KEY, ""),
        data={"type": "standard", "country": "US", "email": "billing@acme.example"},
    )
    answer.raise_for_status()
    account = str(answer.json()["id"])
    server.complete_onboarding(account)
    demo_settings = dataclasses.replace(
        settings,
        stripe_secret_key=DEMO_STRIPE_KEY,
        stripe_api_base=server.url,
        stripe_webhook_secret=DEMO_WEBHOOK_SECRET,
        public_url=public_url,
    )
    return demo_settings, account, server
