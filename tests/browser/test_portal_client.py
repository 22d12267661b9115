"""The client's portal over HTTP (FastAPI TestClient against the in-repo Stripe test server):
a client signing in at `/sign-in` lands on its portal; the home shows spend against the cap,
the open invoices and an estimate of the next bill; a refused purchase keeps the amount with
the error beside it and the allowed range; the agency's incomplete Stripe Tax reaches the
client as plain words and the agency as a banner naming what to fix; an agency at its credit
limit sees a banner in the panel and its clients one in the portal."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import stripe
from fastapi.testclient import TestClient

from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.entrypoints.api.app import create_app
from rebill.services.notifications.alerts import deliver_alerts
from rebill.services.payments.gateway import link_gateway
from rebill.services.views.panel import set_credit_limit, set_tax_mode
from stripe_test_server import StripeTestServer
from tests.browser.conftest import NOW, PASSWORD, csrf_of
from tests.conftest import TEST_SCRYPT_N

KEY = "sk_test_rebill_portal_client"


@dataclass
class Linked:
    app: App
    stripe: Any  # a StripeClient on the test server
    account: str

    def tax_ready(self) -> None:
        self.stripe.v1.tax.settings.update(
            params={
                "defaults": {"tax_behavior": "exclusive", "tax_code": "txcd_10000000"},
                "head_office": {"address": {"country": "US", "state": "NY"}},
            },
            options={"stripe_account": self.account},
        )


@pytest.fixture
def linked(fresh_db: str) -> Iterator[Linked]:
    """acme on Stripe (the test server), in stripe tax mode, with no Stripe Tax settings."""
    with StripeTestServer() as server:
        settings = Settings(
            database_url=fresh_db,
            now=NOW,
            stripe_secret_key=KEY,
            stripe_api_base=server.url,
            public_url="http://testserver",
            scrypt_n=TEST_SCRYPT_N,
        )
        built = build(settings)
        client: Any = stripe.StripeClient(
            KEY, base_addresses={"api": server.url, "connect": server.url}
        )
        account = client.v1.accounts.create(params={"type": "express", "country": "US"})
        server.complete_onboarding(account.id)
        set_tax_mode(built.uow, "acme", "stripe", "0", "test setup", NOW)
        link_gateway(built.uow, built.gateway, "acme", "stripe", str(account.id), NOW)
        yield Linked(built, client, str(account.id))
        built.dispose()


@pytest.fixture
def app(linked: Linked) -> App:
    return linked.app


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    with TestClient(create_app(app)) as test_client:
        yield test_client


def sign_in(client: TestClient, email: str, path: str = "/sign-in") -> Any:
    token = csrf_of(client.get(path).text)
    return client.post(
        path,
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )


def test_a_client_signing_in_at_the_staff_sign_in_lands_on_its_portal(client: TestClient) -> None:
    response = sign_in(client, "owner@harbor-realty.example")
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/acme"
    home = client.get("/portal/acme/")
    assert home.status_code == 200 and "Harbor Realty" in home.text
    assert client.get("/panel", follow_redirects=False).status_code == 404


def test_the_portal_home_shows_open_invoices_spend_and_the_next_bill(client: TestClient) -> None:
    sign_in(client, "owner@harbor-realty.example", "/portal/acme/sign-in")
    home = client.get("/portal/acme/").text
    opened = home.split('id="open-invoices"')[1].split("</section>")[0]
    assert "ACME-000005" in opened and "938.96" in opened
    assert 'id="spend"' in home and "counts usage beyond your included minutes" in home
    estimate = home.split('id="next-bill"')[1].split("</section>")[0]
    assert re.search(r'<p class="big">\$\d[\d,]*\.\d{2}</p>', estimate)
    assert "plan for 2026-12" in estimate


def test_a_refused_amount_stays_beside_its_error_with_the_range(
    linked: Linked, client: TestClient
) -> None:
    linked.tax_ready()
    sign_in(client, "owner@bright-dental.example", "/portal/acme/sign-in")
    token = csrf_of(client.get("/portal/acme/").text)
    refused = client.post(
        "/portal/acme/checkout", data={"action": "credits", "amount": "2", "csrf_token": token}
    )
    assert refused.status_code == 422
    assert 'id="amount" name="amount" value="2"' in refused.text
    assert re.search(r'<p class="field-error" id="amount-error">[^<]+</p>', refused.text)
    assert "from 5 to 1,000 USD" in refused.text


def test_incomplete_stripe_tax_reads_plainly_to_the_client_and_warns_the_agency(
    app: App, client: TestClient
) -> None:
    sign_in(client, "owner@bright-dental.example", "/portal/acme/sign-in")
    token = csrf_of(client.get("/portal/acme/").text)
    refused = client.post(
        "/portal/acme/checkout",
        data={"action": "credits", "amount": "20.00", "csrf_token": token},
    )
    assert refused.status_code == 409
    assert "Online payment is not available right now" in refused.text
    assert "finishing the setup of its online payments" in refused.text
    for internal in ("head_office", "tax_code", "tax_behavior", "Stripe", "missing"):
        assert internal not in refused.text
    client.cookies.clear()
    sign_in(client, "admin@acme.example")
    banner = client.get("/panel").text.split('id="banner-tax"')[1].split("</div>")[0]
    assert "head_office" in banner and "Gateway &amp; tax" in banner
    with app.uow() as uow:
        alerts = [a for a in uow.for_agency("acme").alerts.all() if a.metric == "tax_not_ready"]
    assert len(alerts) == 1 and "head_office" in alerts[0].message
    sent: list[tuple[list[str], str, str]] = []

    class Mailer:
        def send(self, recipients: Sequence[str], subject: str, body: str) -> None:
            sent.append((list(recipients), subject, body))

    deliver_alerts(app.uow, Mailer(), NOW)
    assert any(
        to == ["help@acme.example"] and "Stripe Tax incomplete" in subject and "head_office" in body
        for to, subject, body in sent
    )


def test_an_agency_at_its_credit_limit_sees_why_calls_are_refused(
    app: App, client: TestClient
) -> None:
    sign_in(client, "admin@acme.example")
    assert 'id="banner-blocked"' not in client.get("/panel").text
    set_credit_limit(app.uow, "acme", "1", "test", NOW)
    panel = client.get("/panel/sub-accounts").text
    assert "calls are being refused" in panel.split('id="banner-blocked"')[1]
    client.cookies.clear()
    sign_in(client, "owner@bright-dental.example", "/portal/acme/sign-in")
    portal = client.get("/portal/acme/").text
    assert "New calls cannot be placed" in portal
    assert "credit limit" not in portal  # the agency's terms are not the client's business
