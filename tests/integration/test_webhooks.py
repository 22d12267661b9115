"""Outbound webhooks: signed per Standard Webhooks (checked with the `standardwebhooks`
reference code), sent from the outbox with retries, replayable; private URLs refused unless
the platform allows them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.demo.data import demo_catalog
from rebill.domain.errors import ValidationError
from rebill.domain.period import Period
from rebill.services.accounts.sub_accounts import set_state
from rebill.services.catalog.apply import apply_catalog
from rebill.services.notifications import webhooks
from rebill.services.views.webhooks import delivery_documents, endpoint_documents

NOW = datetime.fromisoformat("2026-10-20T12:00:00+00:00")


class Receiver:
    """A local HTTP receiver that answers 500 `failures` times, then 204."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = len(receiver.requests) <= receiver.failures
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def app(db_url: str) -> Iterator[App]:
    # The receivers listen on 127.0.0.1: the platform's switch lets deliveries reach them
    # (the sender checks the address at every delivery, not only at registration).
    rebill = build(Settings(database_url=db_url, now=NOW, webhooks_allow_private=True))
    apply_catalog(rebill.uow, demo_catalog(Period(2026, 10)), "catalog", NOW)
    yield rebill
    rebill.dispose()


def test_delivered_once_after_two_failures_and_verifiable(app: App) -> None:
    receiver = Receiver(failures=2)
    endpoint = webhooks.add_endpoint(app.uow, "acme", receiver.url, [], allow_private=True, now=NOW)
    set_state(app.uow, "acme", "pine-legal", "suspended", "alice", "unpaid", NOW)
    assert app.webhook_sender is not None
    # Attempts an hour apart (each failure waits per the retry schedule), the last one now:
    # the reference verifier only accepts a timestamp within 5 minutes of the real clock.
    real_now = datetime.now(UTC)
    for moment in (real_now - timedelta(hours=2), real_now - timedelta(hours=1), real_now):
        webhooks.deliver_due(app.uow, app.webhook_sender, moment)
    assert len(receiver.requests) == 3
    (delivery,) = delivery_documents(app.uow, "acme")
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 3
    # Nothing more is sent once delivered.
    webhooks.deliver_due(app.uow, app.webhook_sender, real_now)
    assert len(receiver.requests) == 3
    headers, body = receiver.requests[-1]
    payload = Webhook(endpoint["secret"]).verify(body, headers)
    assert payload["type"] == "sub_account.suspended"
    assert payload["data"] == {"sub_account": "pine-legal", "by": "alice", "reason": "unpaid"}
    # Every attempt carried the same message id; a tampered body fails verification.
    assert len({h["webhook-id"] for h, _ in receiver.requests}) == 1
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(endpoint["secret"]).verify(body.replace(b"unpaid", b"paid!!"), headers)
    # A replay sends it again, as the same message.
    webhooks.replay(app.uow, "acme", delivery["id"], real_now)
    webhooks.deliver_due(app.uow, app.webhook_sender, real_now)
    assert len(receiver.requests) == 4
    assert json.loads(receiver.requests[-1][1]) == json.loads(body)


def test_retries_stop_after_the_schedule(app: App) -> None:
    receiver = Receiver(failures=100)
    webhooks.add_endpoint(
        app.uow, "acme", receiver.url, ["sub_account.suspended"], allow_private=True, now=NOW
    )
    set_state(app.uow, "acme", "pine-legal", "suspended", "bob", "", NOW)
    assert app.webhook_sender is not None
    moment = NOW
    for _ in range(10):
        webhooks.deliver_due(app.uow, app.webhook_sender, moment)
        moment += timedelta(hours=12)
    (delivery,) = delivery_documents(app.uow, "acme")
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 7  # the first try and six retries
    assert delivery["last_error"] == "HTTP 500"


def test_endpoint_filters_event_types(app: App) -> None:
    receiver = Receiver(failures=0)
    webhooks.add_endpoint(
        app.uow, "acme", receiver.url, ["invoice.finalized"], allow_private=True, now=NOW
    )
    set_state(app.uow, "acme", "pine-legal", "suspended", "bob", "", NOW)
    assert delivery_documents(app.uow, "acme") == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://10.0.0.5/x",
        "http://192.168.1.2/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "ftp://example.com/x",
        "not a url",
    ],
)
def test_private_and_bad_urls_are_refused(app: App, url: str) -> None:
    with pytest.raises(ValidationError, match="url"):
        webhooks.add_endpoint(app.uow, "acme", url, [], allow_private=False, now=NOW)
    assert endpoint_documents(app.uow, "acme") == []


def test_public_address_is_accepted_without_a_lookup() -> None:
    webhooks.check_url(
        "https://hooks.example.com/x", allow_private=False, resolve=lambda host: ["93.184.216.34"]
    )
    with pytest.raises(ValidationError):
        webhooks.check_url(
            "https://evil.example.com/x",
            allow_private=False,
            resolve=lambda host: ["93.184.216.34", "10.1.2.3"],
        )


def test_a_close_queues_one_invoice_event_per_document_for_the_endpoints_that_want_it(
    app: App,
) -> None:
    """The close queues its invoices' events in one write: one delivery per document (every
    retail invoice and the wholesale invoice) to each endpoint that wants the type, none to
    the others; each payload names its invoice and its amounts."""
    from rebill.services.invoicing.close import close_period

    wanted = Receiver(failures=0)
    other = Receiver(failures=0)
    webhooks.add_endpoint(
        app.uow, "acme", wanted.url, ["invoice.finalized"], allow_private=True, now=NOW
    )
    webhooks.add_endpoint(
        app.uow, "acme", other.url, ["sub_account.suspended"], allow_private=True, now=NOW
    )
    after = datetime(2026, 11, 2, 12, tzinfo=UTC)
    (document,) = close_period(app.uow, Period(2026, 10), ["acme"], after)
    invoices = [*document["retail_invoices"], document["wholesale_invoice"]]
    assert len(invoices) > 2
    deliveries = delivery_documents(app.uow, "acme")
    assert len(deliveries) == len(invoices)
    assert {d["status"] for d in deliveries} == {"pending"}
    assert len({d["id"] for d in deliveries}) == len(invoices)
    assert app.webhook_sender is not None
    for _ in range(10):
        webhooks.deliver_due(app.uow, app.webhook_sender, after)
    assert other.requests == []
    sent = [json.loads(body) for _, body in wanted.requests]
    assert {p["type"] for p in sent} == {"invoice.finalized"}
    by_number = {p["data"]["number"]: p["data"] for p in sent}
    assert sorted(by_number) == sorted(i["number"] for i in invoices)
    for invoice in invoices:
        data = by_number[invoice["number"]]
        assert (data["subtotal"], data["tax"], data["total"]) == (
            invoice["subtotal"],
            invoice["tax"],
            invoice["total"],
        )
    assert by_number[document["wholesale_invoice"]["number"]]["kind"] == "wholesale"
