"""The Stripe test server, driven through the official `stripe` SDK (and httpx for the
test-only pages): Connect isolation, onboarding, OAuth, Tax settings and registrations,
Checkout with automatic tax, signed webhooks with retries, cards, refunds, idempotency,
injected failures and the SDK-type parameter check."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from stripe_test_server import StripeTestServer, sign
from stripe_test_server.forms import decode
from stripe_test_server.params import ParamChecker

stripe = pytest.importorskip("stripe")

SECRET = "whsec_test_secret_for_tests"
KEY = "sk_test_rebill_123"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what it gets; it can answer 500 first."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[tuple[bytes, dict[str, str], int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    status = 500 if receiver.fail_first > 0 else 200
                    receiver.fail_first -= 1
                    receiver.received.append((body, dict(self.headers), status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/webhooks/stripe"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def accepted(self) -> list[tuple[bytes, dict[str, str]]]:
        with self.lock:
            return [(body, headers) for body, headers, status in self.received if status == 200]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


@pytest.fixture
def server(receiver: Receiver) -> Iterator[StripeTestServer]:
    with StripeTestServer(
        webhook_url=receiver.url, webhook_secret=SECRET, webhook_retry_delays=(0.05, 0.1, 0.2)
    ) as test_server:
        yield test_server


def make_client(server: StripeTestServer, retries: int = 0, key: str = KEY) -> Any:
    return stripe.StripeClient(
        key,
        base_addresses={"api": server.url, "connect": server.url},
        max_network_retries=retries,
    )


@pytest.fixture
def client(server: StripeTestServer) -> Any:
    return make_client(server)


def connected_account(client: Any, server: StripeTestServer, country: str = "DE") -> str:
    account = client.v1.accounts.create(params={"type": "express", "country": country})
    server.complete_onboarding(account.id)
    return str(account.id)


def activate_tax(client: Any, account: str, behavior: str = "exclusive") -> None:
    client.v1.tax.settings.update(
        params={
            "defaults": {"tax_behavior": behavior, "tax_code": "txcd_10000000"},
            "head_office": {"address": {"country": "DE", "city": "Berlin"}},
        },
        options={"stripe_account": account},
    )


def register(client: Any, account: str, country: str, **options: str) -> Any:
    country_options = (
        {"type": "standard"} if country != "US" else {"type": "state_sales_tax", **options}
    )
    return client.v1.tax.registrations.create(
        params={
            "country": country,
            "country_options": {country.lower(): country_options},
            "active_from": "now",
        },
        options={"stripe_account": account},
    )


def credits_session(client: Any, account: str, customer: str | None = None, **extra: Any) -> Any:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 1000,
                    "product_data": {"name": "Call credits", "tax_code": "txcd_10000000"},
                },
                "quantity": 2,
            }
        ],
        "automatic_tax": {"enabled": True},
        "metadata": {"rebill_action": "credit_purchase"},
        "client_reference_id": "client-42",
        "success_url": "https://agency.example/done?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://agency.example/cancel",
    }
    if customer:
        params["customer"] = customer
    params.update(extra)
    return client.v1.checkout.sessions.create(params=params, options={"stripe_account": account})


def customer_in(client: Any, account: str, country: str, state: str | None = None) -> str:
    address = {"country": country, **({"state": state} if state else {})}
    customer = client.v1.customers.create(
        params={"email": "client@example.com", "name": "Client", "address": address},
        options={"stripe_account": account},
    )
    return str(customer.id)


# -- authentication and accounts -----------------------------------------------------------


def test_only_test_secret_keys_are_accepted(server: StripeTestServer) -> None:
    with pytest.raises(stripe.AuthenticationError) as caught:
        make_client(server, key="sk_live_nope").v1.customers.list()
    assert caught.value.http_status == 401
    answer = httpx.get(f"{server.url}/v1/customers")
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert make_client(server).v1.customers.list().data == []


def test_connected_accounts_keep_their_own_data(client: Any, server: StripeTestServer) -> None:
    first = connected_account(client, server)
    second = connected_account(client, server)
    customer = client.v1.customers.create(
        params={"email": "a@example.com"}, options={"stripe_account": first}
    )
    assert client.v1.customers.retrieve(customer.id, options={"stripe_account": first}).email
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.retrieve(customer.id, options={"stripe_account": second})
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    assert client.v1.customers.list(options={"stripe_account": second}).data == []
    assert client.v1.customers.list().data == []  # the platform's own data
    with pytest.raises(stripe.PermissionError):
        client.v1.customers.list(options={"stripe_account": "acct_1DoesNotExist000"})


def test_account_link_onboards_and_sends_account_updated(
    client: Any, server: StripeTestServer, receiver: Receiver
) -> None:
    account = client.v1.accounts.create(params={"type": "express", "country": "DE"})
    assert (account.charges_enabled, account.details_submitted) == (False, False)
    assert "external_account" in account.requirements.currently_due
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://agency.example/refresh",
            "return_url": "https://agency.example/return",
        }
    )
    visit = httpx.get(link.url)
    assert visit.status_code == 303
    assert visit.headers["location"] == "https://agency.example/return"
    onboarded = client.v1.accounts.retrieve(account.id)
    assert (onboarded.charges_enabled, onboarded.details_submitted) == (True, True)
    assert httpx.get(link.url).headers["location"] == "https://agency.example/refresh"
    assert server.wait_for_webhooks()
    events = [json.loads(body) for body, _ in receiver.accepted()]
    updated = [e for e in events if e["type"] == "account.updated"]
    assert updated and updated[0]["account"] == account.id
    assert updated[0]["data"]["object"]["charges_enabled"] is True
    assert updated[0]["data"]["previous_attributes"]["charges_enabled"] is False


def test_charges_need_an_onboarded_account(client: Any) -> None:
    account = client.v1.accounts.create(params={"type": "custom", "country": "DE"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "eur",
                "payment_method": "pm_card_visa",
                "confirm": True,
            },
            options={"stripe_account": account.id},
        )
    assert "cannot currently make charges" in str(caught.value.user_message)


def test_oauth_connects_an_existing_standard_account(client: Any, server: StripeTestServer) -> None:
    code = server.create_oauth_code()
    token = client.oauth.token(params={"grant_type": "authorization_code", "code": code})
    account = client.v1.accounts.retrieve(token.stripe_user_id)
    assert account.type == "standard"
    assert account.charges_enabled is True
    with pytest.raises(stripe.oauth_error.InvalidGrantError):
        client.oauth.token(params={"grant_type": "authorization_code", "code": code})
    # The access token acts as the connected account.
    as_agency = make_client(server, key=token.access_token)
    assert as_agency.v1.tax.settings.retrieve().status == "pending"
    # The authorize page redirects back with a fresh code.
    visit = httpx.get(
        f"{server.url}/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": "ca_test",
            "scope": "read_write",
            "redirect_uri": "https://rebill.example/stripe/oauth",
            "state": "xyz",
        },
    )
    assert visit.status_code == 303
    assert "code=ac_" in visit.headers["location"]
    assert "state=xyz" in visit.headers["location"]


# -- Stripe Tax -------------------------------------------------------------------------------


def test_tax_settings_turn_active_as_fields_are_set(
    client: Any, server: StripeTestServer, receiver: Receiver
) -> None:
    account = connected_account(client, server)
    options = {"stripe_account": account}
    settings = client.v1.tax.settings.retrieve(options=options)
    assert settings.status == "pending"
    assert settings.status_details.pending.missing_fields == [
        "head_office",
        "defaults.tax_code",
        "defaults.tax_behavior",
    ]
    settings = client.v1.tax.settings.update(
        params={"head_office": {"address": {"country": "DE"}}}, options=options
    )
    assert settings.status_details.pending.missing_fields == [
        "defaults.tax_code",
        "defaults.tax_behavior",
    ]
    settings = client.v1.tax.settings.update(
        params={"defaults": {"tax_code": "txcd_10000000"}}, options=options
    )
    assert settings.status_details.pending.missing_fields == ["defaults.tax_behavior"]
    settings = client.v1.tax.settings.update(
        params={"defaults": {"tax_behavior": "inferred_by_currency"}}, options=options
    )
    assert settings.status == "active"
    assert settings.head_office.address.country == "DE"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.tax.settings.update(
            params={"defaults": {"tax_behavior": "sometimes"}}, options=options
        )
    assert server.wait_for_webhooks()
    updates = [
        json.loads(body)
        for body, _ in receiver.accepted()
        if json.loads(body)["type"] == "tax.settings.updated"
    ]
    assert len(updates) == 3
    assert {u["account"] for u in updates} == {account}
    assert updates[-1]["data"]["object"]["status"] == "active"
    # Other accounts are untouched.
    assert client.v1.tax.settings.retrieve().status == "pending"


def test_automatic_tax_on_an_inactive_account_is_stripe_tax_inactive(
    client: Any, server: StripeTestServer
) -> None:
    account = connected_account(client, server)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        credits_session(client, account)
    assert caught.value.http_status == 400
    assert caught.value.code == "stripe_tax_inactive"
    assert caught.value.error.type == "invalid_request_error"
    # Without automatic tax the same session is fine.
    session = credits_session(client, account, automatic_tax={"enabled": False})
    assert session.amount_total == 2000


def test_checkout_tax_comes_from_registrations(client: Any, server: StripeTestServer) -> None:
    account = connected_account(client, server)
    activate_tax(client, account, "exclusive")
    options = {"stripe_account": account}
    german = customer_in(client, account, "DE")
    # Active settings but no registration: tax is 0.
    untaxed = credits_session(client, account, german)
    assert (untaxed.amount_subtotal, untaxed.total_details.amount_tax) == (2000, 0)
    assert untaxed.automatic_tax.status == "complete"

    register(client, account, "DE")
    register(client, account, "US", state="CA")
    listed = client.v1.tax.registrations.list(params={"status": "active"}, options=options)
    assert sorted(r.country for r in listed.data) == ["DE", "US"]

    taxed = credits_session(client, account, german)
    assert (taxed.amount_subtotal, taxed.total_details.amount_tax, taxed.amount_total) == (
        2000,
        380,
        2380,
    )
    items = client.v1.checkout.sessions.line_items.list(taxed.id, options=options)
    assert items.data[0].amount_tax == 380
    assert items.data[0].taxes[0].rate.percentage == 19.0
    expanded = client.v1.checkout.sessions.retrieve(
        taxed.id, params={"expand": ["line_items"]}, options=options
    )
    assert expanded.line_items.data[0].description == "Call credits"

    french = credits_session(client, account, customer_in(client, account, "FR"))
    assert french.total_details.amount_tax == 0  # not registered in FR
    californian = credits_session(client, account, customer_in(client, account, "US", "CA"))
    assert californian.total_details.amount_tax == 145  # 7.25 %
    # Inclusive prices carry the tax inside the total.
    inclusive = credits_session(
        client,
        account,
        german,
        line_items=[
            {
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 1190,
                    "tax_behavior": "inclusive",
                    "product_data": {"name": "Plan upgrade"},
                },
                "quantity": 1,
            }
        ],
    )
    assert (inclusive.amount_total, inclusive.total_details.amount_tax) == (1190, 190)


def test_checkout_completion_sends_a_verifiable_signed_webhook(
    client: Any, server: StripeTestServer, receiver: Receiver
) -> None:
    account = connected_account(client, server)
    activate_tax(client, account)
    register(client, account, "DE")
    session = credits_session(client, account, customer_in(client, account, "DE"))
    assert (session.status, session.payment_status) == ("open", "unpaid")

    page = httpx.get(session.url)
    assert page.status_code == 200
    assert "Pay" in page.text and "23.80" in page.text
    paid = httpx.post(
        f"{server.url}/_test/checkout/{session.id}/complete",
        data={"payment_method": "pm_card_visa", "country": "DE"},
    )
    assert paid.status_code == 303
    assert paid.headers["location"] == f"https://agency.example/done?session={session.id}"

    done = client.v1.checkout.sessions.retrieve(session.id, options={"stripe_account": account})
    assert (done.status, done.payment_status) == ("complete", "paid")
    intent = client.v1.payment_intents.retrieve(
        done.payment_intent, options={"stripe_account": account}
    )
    assert (intent.status, intent.amount_received) == ("succeeded", 2380)

    assert server.wait_for_webhooks()
    completed = [
        (body, headers)
        for body, headers in receiver.accepted()
        if json.loads(body)["type"] == "checkout.session.completed"
    ]
    assert len(completed) == 1
    body, headers = completed[0]
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
    assert event.account == account
    assert event.data.object.id == session.id
    assert event.data.object.metadata["rebill_action"] == "credit_purchase"
    assert event.data.object.client_reference_id == "client-42"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            body.replace(b"complete", b"c0mplete"), headers["Stripe-Signature"], SECRET
        )
    stale = sign(body, SECRET, timestamp=int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, stale, SECRET)
    # The same session cannot be paid twice.
    with pytest.raises(Exception, match="no longer active"):
        server.complete_checkout(session.id, account)


def test_checkout_declined_card_leaves_the_session_open(
    client: Any, server: StripeTestServer
) -> None:
    account = connected_account(client, server)
    session = credits_session(client, account, automatic_tax={"enabled": False})
    answer = httpx.post(
        f"{server.url}/_test/checkout/{session.id}/complete",
        data={"payment_method": "pm_card_chargeDeclined"},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 402
    assert answer.json()["error"]["code"] == "card_declined"
    still = client.v1.checkout.sessions.retrieve(session.id, options={"stripe_account": account})
    assert still.status == "open"
    assert server.events("checkout.session.completed") == []
    done = server.complete_checkout(session.id, account, "pm_card_threeDSecure2Required")
    assert done["status"] == "complete"


def test_webhooks_are_retried_until_accepted(client: Any, server: StripeTestServer) -> None:
    flaky = Receiver(fail_first=2)
    try:
        server.set_webhook(flaky.url, SECRET)
        account = connected_account(client, server)
        assert server.wait_for_webhooks()
        statuses = [status for _, _, status in flaky.received]
        assert statuses == [500, 500, 200]
        attempts = [d.attempt for d in server.deliveries if d.url == flaky.url]
        assert attempts == [1, 2, 3]
        body = flaky.accepted()[0][0]
        assert json.loads(body)["account"] == account
        # A replay of the same event is delivered again, with the same id.
        event_id = json.loads(body)["id"]
        assert server.resend_event(event_id)
        assert server.wait_for_webhooks()
        assert [json.loads(b)["id"] for b, _ in flaky.accepted()] == [event_id, event_id]
    finally:
        flaky.close()


# -- cards, payments, refunds -----------------------------------------------------------------


def test_declined_card_is_a_card_error(client: Any, server: StripeTestServer) -> None:
    account = connected_account(client, server)
    customer = customer_in(client, account, "DE")
    options = {"stripe_account": account}
    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_intents.create(
            params={
                "amount": 5000,
                "currency": "eur",
                "customer": customer,
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
                "off_session": True,
            },
            options=options,
        )
    assert caught.value.http_status == 402
    assert caught.value.code == "card_declined"
    error = caught.value.error
    assert error.decline_code == "generic_decline"
    intent = client.v1.payment_intents.retrieve(error.payment_intent.id, options=options)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == "card_declined"
    assert [e["data"]["object"]["id"] for e in server.events("payment_intent.payment_failed")] == [
        intent.id
    ]
    # Attaching a declining card to a customer fails too (Stripe checks the card).
    with pytest.raises(stripe.CardError):
        client.v1.payment_methods.attach(
            "pm_card_chargeDeclined", params={"customer": customer}, options=options
        )


def test_saved_card_charged_off_session(client: Any, server: StripeTestServer) -> None:
    account = connected_account(client, server)
    options = {"stripe_account": account}
    customer = customer_in(client, account, "DE")
    method = client.v1.payment_methods.attach(
        "pm_card_visa", params={"customer": customer}, options=options
    )
    assert method.id.startswith("pm_") and method.card.last4 == "4242"
    client.v1.customers.update(
        customer,
        params={"invoice_settings": {"default_payment_method": method.id}},
        options=options,
    )
    listed = client.v1.customers.payment_methods.list(customer, options=options)
    assert [m.id for m in listed.data] == [method.id]
    intent = client.v1.payment_intents.create(
        params={
            "amount": 4200,
            "currency": "eur",
            "customer": customer,
            "payment_method": method.id,
            "confirm": True,
            "off_session": True,
            "application_fee_amount": 200,
        },
        options=options,
    )
    assert intent.status == "succeeded"
    charge = client.v1.charges.retrieve(intent.latest_charge, options=options)
    assert (charge.amount, charge.application_fee_amount) == (4200, 200)


def test_application_fee_needs_a_connected_account(client: Any) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "application_fee_amount": 100,
            }
        )
    assert caught.value.param == "application_fee_amount"


def test_three_d_secure_requires_action(client: Any, server: StripeTestServer) -> None:
    account = connected_account(client, server)
    options = {"stripe_account": account}
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1500,
            "currency": "eur",
            "payment_method": "pm_card_threeDSecure2Required",
            "confirm": True,
            "return_url": "https://agency.example/3ds-done",
        },
        options=options,
    )
    assert intent.status == "requires_action"
    assert intent.next_action.type == "redirect_to_url"
    challenge = httpx.get(intent.next_action.redirect_to_url.url)
    assert challenge.status_code == 200
    server.authenticate_payment(intent.id)
    assert client.v1.payment_intents.retrieve(intent.id, options=options).status == "succeeded"
    # Off session, a card that needs authentication fails with authentication_required.
    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_intents.create(
            params={
                "amount": 1500,
                "currency": "eur",
                "payment_method": "pm_card_authenticationRequired",
                "confirm": True,
                "off_session": True,
            },
            options=options,
        )
    assert caught.value.code == "authentication_required"


def test_refunds_never_exceed_the_payment(client: Any, server: StripeTestServer) -> None:
    account = connected_account(client, server)
    options = {"stripe_account": account}
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
        },
        options=options,
    )
    partial = client.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 400}, options=options
    )
    assert (partial.amount, partial.status) == (400, "succeeded")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(
            params={"payment_intent": intent.id, "amount": 700}, options=options
        )
    assert caught.value.code == "amount_too_large"
    rest = client.v1.refunds.create(params={"payment_intent": intent.id}, options=options)
    assert rest.amount == 600
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"payment_intent": intent.id}, options=options)
    assert again.value.code == "charge_already_refunded"
    charge = client.v1.charges.retrieve(intent.latest_charge, options=options)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    refunded = server.events("charge.refunded", account=account)
    assert [e["data"]["object"]["amount_refunded"] for e in refunded] == [400, 1000]
    unpaid = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "eur"}, options=options
    )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": unpaid.id}, options=options)


# -- idempotency and failures -----------------------------------------------------------------


def payment_intents_in(server: StripeTestServer, account: str) -> list[dict[str, Any]]:
    intents: list[dict[str, Any]] = server.state.data(account).of_type("payment_intent")
    return intents


def test_idempotency_key_replays_and_refuses_other_parameters(
    client: Any, server: StripeTestServer
) -> None:
    account = connected_account(client, server)
    params = {"amount": 2500, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    options = {"stripe_account": account, "idempotency_key": "invoice-7-attempt-1"}
    first = client.v1.payment_intents.create(params=params, options=options)
    second = client.v1.payment_intents.create(params=params, options=options)
    assert first.id == second.id
    assert len(payment_intents_in(server, account)) == 1
    assert [r["replayed"] for r in server.requests if r["path"] == "/v1/payment_intents"] == [
        False,
        True,
    ]
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.create(params={**params, "amount": 2600}, options=options)
    # Keys are per account: the same key on another account is a new request.
    other = connected_account(client, server)
    third = client.v1.payment_intents.create(
        params=params, options={"stripe_account": other, "idempotency_key": "invoice-7-attempt-1"}
    )
    assert third.id != first.id
    # A replayed decline answers the same error without charging again.
    declined = {**params, "payment_method": "pm_card_chargeDeclined"}
    decline_options = {"stripe_account": account, "idempotency_key": "invoice-8-attempt-1"}
    for _ in range(2):
        with pytest.raises(stripe.CardError):
            client.v1.payment_intents.create(params=declined, options=decline_options)
    assert len(payment_intents_in(server, account)) == 2


def test_injected_500_then_retry_with_the_same_key_charges_once(
    server: StripeTestServer,
) -> None:
    retrying = make_client(server, retries=2)
    account = connected_account(retrying, server)
    server.inject_failures(500, 1, path_prefix="/v1/payment_intents")
    intent = retrying.v1.payment_intents.create(
        params={
            "amount": 9900,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
        },
        options={"stripe_account": account, "idempotency_key": "invoice-9-attempt-1"},
    )
    assert intent.status == "succeeded"
    attempts = [r for r in server.requests if r["path"] == "/v1/payment_intents"]
    assert [(r["injected"], r["idempotency_key"]) for r in attempts] == [
        (True, "invoice-9-attempt-1"),
        (False, "invoice-9-attempt-1"),
    ]
    assert len(payment_intents_in(server, account)) == 1
    assert len(server.events("charge.succeeded", account=account)) == 1

    # Without SDK retries the caller sees the 500, and its own retry charges once.
    plain = make_client(server)
    server.inject_failures(500, 1)
    options = {"stripe_account": account, "idempotency_key": "invoice-10-attempt-1"}
    params = {"amount": 100, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    with pytest.raises(stripe.APIError):
        plain.v1.payment_intents.create(params=params, options=options)
    plain.v1.payment_intents.create(params=params, options=options)
    plain.v1.payment_intents.create(params=params, options=options)
    assert len(payment_intents_in(server, account)) == 2


def test_injected_429_and_timeout(server: StripeTestServer, client: Any) -> None:
    server.inject_failures(429, 1)
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.list()
    assert client.v1.customers.list().data == []
    server.inject_failures("timeout", 1, path_prefix="/v1/customers", delay=1.0)
    with pytest.raises(httpx.TransportError):
        httpx.get(
            f"{server.url}/v1/customers", headers={"Authorization": f"Bearer {KEY}"}, timeout=0.3
        )
    time.sleep(1.0)
    answer = httpx.get(f"{server.url}/v1/customers", headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 200


# -- parameters checked against the SDK's types -----------------------------------------------


def test_unknown_parameters_are_rejected_like_stripe(client: Any, server: StripeTestServer) -> None:
    account = connected_account(client, server)
    options = {"stripe_account": account}
    with pytest.raises(stripe.InvalidRequestError) as top:
        client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "eur", "amount_cents": 1000}, options=options
        )
    assert (top.value.http_status, top.value.code, top.value.param) == (
        400,
        "parameter_unknown",
        "amount_cents",
    )
    with pytest.raises(stripe.InvalidRequestError) as nested:
        credits_session(
            client,
            account,
            automatic_tax={"enabled": False},
            line_items=[
                {
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": 100,
                        "tax": 19,
                        "product_data": {"name": "x"},
                    },
                    "quantity": 1,
                }
            ],
        )
    assert nested.value.code == "parameter_unknown"
    assert nested.value.param == "line_items[0][price_data][tax]"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.create(params={"currency": "eur"}, options=options)
    assert (missing.value.code, missing.value.param) == ("parameter_missing", "amount")
    with pytest.raises(stripe.InvalidRequestError) as invalid:
        client.v1.tax.settings.update(
            params={"head_office": {"address": {"country": "DE", "zip": "10115"}}},
            options=options,
        )
    assert invalid.value.param == "head_office[address][zip]"
    bad_integer = httpx.post(
        f"{server.url}/v1/refunds",
        headers={"Authorization": f"Bearer {KEY}"},
        data={"payment_intent": "pi_x", "amount": "ten"},
    )
    assert bad_integer.status_code == 400
    assert bad_integer.json()["error"]["code"] == "parameter_invalid_integer"


def test_form_decoding_follows_stripe_encoding() -> None:
    assert decode(
        "line_items[0][price_data][currency]=eur&line_items[0][quantity]=2"
        "&expand[]=a&expand[]=b&metadata[0]=zero&automatic_tax[enabled]=true"
    ) == {
        "line_items": [{"price_data": {"currency": "eur"}, "quantity": "2"}],
        "expand": ["a", "b"],
        "metadata": {"0": "zero"},
        "automatic_tax": {"enabled": "true"},
    }


def test_checker_is_skipped_without_the_sdk(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "stripe", None)
    with caplog.at_level("WARNING"):
        checker = ParamChecker()
    assert not checker.enabled
    assert "not installed" in caplog.text
    checker.check(("params.PaymentIntentCreateParams",), {"anything": "goes"})
