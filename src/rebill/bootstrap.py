"""The composition root: the only place that picks concrete adapters for the services. Each
adapter is imported and built when first asked for, so a command loads only what it uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rebill.config import Settings

if TYPE_CHECKING:
    # Type-only: the adapters are imported by the property that builds them, on first use, so
    # that a command pays only for what it touches (`rebill --help` imports none of them).
    from sqlalchemy.engine import Engine

    from rebill.services.access.passwords import PasswordHasher
    from rebill.services.payments.gateway import GatewayContext
    from rebill.services.ports import (
        Clock,
        DomainResolver,
        InvoiceRenderer,
        Mailer,
        PaymentGateway,
        UnitOfWorkFactory,
        WebhookSender,
    )
    from rebill.services.ports.archive import CallArchive
    from rebill.services.views.listing import ListingReader


@dataclass
class App:
    """The adapters the services run on, each built on first use (and then kept): the SQL
    store, the clock, the mailer, the webhook sender, the payment gateways and the PDF
    renderer. A test replaces one by assigning it before first use."""

    settings: Settings
    engine: Engine

    @cached_property
    def uow(self) -> UnitOfWorkFactory:
        from rebill.adapters.db.unit_of_work import unit_of_work_factory

        return unit_of_work_factory(self.engine)

    @cached_property
    def listing(self) -> ListingReader:
        """The command line's quick reads (usage summary, invoice list) through SQLAlchemy
        Core: no ORM to import, no mappers to configure."""
        from rebill.adapters.db.listing import listing_reader

        return listing_reader(self.engine)

    @cached_property
    def call_archive(self) -> CallArchive:
        """The months of calls (PostgreSQL partitions; SQLite has one table)."""
        from rebill.adapters.db.partitions import SqlCallArchive

        return SqlCallArchive(self.engine)

    @cached_property
    def clock(self) -> Clock:
        from rebill.adapters.clock import FixedClock, SystemClock

        return FixedClock(self.settings.now) if self.settings.now else SystemClock()

    @cached_property
    def mailer(self) -> Mailer | None:
        """SMTP when a host is set; else .eml files in REBILL_MAIL_DIR when set; else none."""
        settings = self.settings
        if not settings.smtp_host:
            if settings.mail_dir:
                from rebill.adapters.mail.files import FileMailer

                return FileMailer(settings.mail_dir, settings.smtp_from)
            return None
        from rebill.adapters.mail.smtp import SmtpMailer

        return SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_from)

    @cached_property
    def webhook_sender(self) -> WebhookSender:
        from rebill.adapters.webhooks.http import HttpWebhookSender

        return HttpWebhookSender(allow_private=self.settings.webhooks_allow_private)

    @cached_property
    def gateway(self) -> GatewayContext:
        """The payment gateways; the Stripe SDK loads only when a secret key is set."""
        from rebill.services.payments.gateway import GatewayContext

        settings = self.settings
        gateways: dict[str, PaymentGateway] = {}
        if settings.stripe_secret_key:
            from rebill.adapters.gateways.stripe_gateway import StripeGateway

            gateways["stripe"] = StripeGateway(
                settings.stripe_secret_key,
                settings.stripe_api_base,
                settings.stripe_webhook_secret,
                settings.stripe_client_id,
            )
        return GatewayContext(
            gateways,
            settings.public_url.rstrip("/"),
            settings.secret_key or "",  # empty: the secret generated for this database
        )

    @cached_property
    def renderer(self) -> InvoiceRenderer:
        from rebill.adapters.pdf.renderer import PdfInvoiceRenderer

        return PdfInvoiceRenderer()

    @cached_property
    def passwords(self) -> PasswordHasher:
        from rebill.services.access.passwords import PasswordHasher

        return PasswordHasher(self.settings.scrypt_n)

    @cached_property
    def resolver(self) -> DomainResolver:
        """DNS, for proving control of a custom domain (tests assign a double)."""
        from rebill.adapters.dns import DnsResolver

        return DnsResolver()

    def dns(self) -> DomainResolver:
        return self.resolver

    def warm(self) -> None:
        """Build what every API request uses first -- the SQL unit of work (the ORM and its
        mappers, the repositories) and the clock -- so that a server pays for the imports at
        start-up, not within its first request (issue 13: half a second of CPU per worker)."""
        from sqlalchemy.orm import configure_mappers

        _ = self.uow, self.clock
        configure_mappers()

    def dispose(self) -> None:
        self.engine.dispose()


def build(settings: Settings, migrate_schema: bool = True) -> App:
    """The app on `settings.database_url`, its schema brought to the newest revision first
    (one query when it is there already). The other adapters are built on first use."""
    from rebill.adapters.db.engine import make_engine, migrate

    engine = make_engine(settings.database_url)
    if migrate_schema:
        migrate(engine)
    return App(settings=settings, engine=engine)


def consume_calls(
    app: App, url: str, stream: str, durable: str, stop: Any, idle_exit: bool = False
) -> int:
    """Record call-ended events from a NATS JetStream stream until `stop` (a threading.Event)
    is set: `rebill consume`. The number of events acknowledged."""
    from rebill.adapters.stream.nats_stream import NatsCallStream
    from rebill.services.streaming import record_events

    def handle(payloads: list[bytes]) -> Any:
        return record_events(app.uow, payloads, app.clock.now())

    return NatsCallStream(url, stream, durable).run(handle, stop, idle_exit)


@contextmanager
def reading() -> Iterator[None]:
    """Around work that reads committed state (authorizations, key lookups): on SQLite it does
    not queue behind a writer (`adapters.db.engine.reading`)."""
    from rebill.adapters.db.engine import reading as sql_reading

    with sql_reading():
        yield


def schema_is_current(app: App) -> bool:
    """The database answers and its schema is at the newest migration (`/readyz`)."""
    from rebill.adapters.db.engine import head_revision, stored_revisions

    return stored_revisions(app.engine) == [head_revision()]


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
    from stripe_test_server import server

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

    from stripe_test_server.server import StripeTestServer

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
