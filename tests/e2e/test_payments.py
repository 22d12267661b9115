"""Collecting invoices through Stripe end to end (issue 4): onboarding through Account Links and
OAuth, saved cards, off-session charges of finalized invoices (retail on the agency's connected
account, wholesale on the platform's own), declines, retries with one idempotency key per
attempt, PaymentIntent webhooks, application fees, and refunds producing credit notes.

The world of `test_gateway.py` (catalog, CLI driver, connected accounts on the in-repo Stripe
test server) is reused. Agency `gamma` collects no tax, so its November close gives plain
numbers (clock: REBILL_NOW = 2026-12-15T12:00:00Z):
- `GAMMA-000001`: bright-dental's retail invoice, the December Starter fee in advance, 49.00;
- `PLAT-000001`: gamma's wholesale invoice, one local number held all November, 1.15.
Agency `beta` (manual VAT 20 % exclusive) gives `BETA-000001`: 49.00 + 9.80 = 58.80.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from rebill.bootstrap import build
from rebill.config import Settings
from rebill.services.wallets.debit import debit_wallet
from stripe_test_server import StripeTestServer
from tests.e2e import test_gateway as world
from tests.e2e.test_gateway import SUB, Agency, Rebill

# The fixtures of the gateway world, used here under the same names.
server, sdk, stripe_env = world.server, world.sdk, world.stripe_env
rebill, agency, ready = world.rebill, world.agency, world.ready

EXIT_PAYMENT_FAILED = 6
NOW = datetime(2026, 12, 15, 12, tzinfo=UTC)
RETAIL = "GAMMA-000001"
WHOLESALE = "PLAT-000001"


@pytest.fixture
def linked(rebill: Rebill, agency: Agency) -> Agency:
    """`gamma` linked to an onboarded account, November closed."""
    rebill.link("gamma", agency.id)
    rebill.json("close", "--period", "2026-11", "--agency", "gamma")
    return agency


def invoice(rebill: Rebill, number: str, agency: str = "gamma") -> dict[str, Any]:
    for document in rebill.json("invoices", "list", "--agency", agency)["data"]:
        if document["number"] == number:
            found: dict[str, Any] = document
            return found
    raise AssertionError(f"no invoice {number}")


def save_card(rebill: Rebill, card: str, sub: str | None = SUB, agency: str = "gamma") -> Any:
    extra = ["--sub-account", sub] if sub else []
    return rebill.json("gateway", "save-card", "--agency", agency, *extra, "--payment-method", card)


def charge(rebill: Rebill, number: str, code: int = 0, agency: str = "gamma") -> Any:
    result = rebill.run("invoices", "charge", number, "--agency", agency, "--json", code=code)
    return json.loads(result.stdout)


def intents(server: StripeTestServer, account: str | None) -> list[dict[str, Any]]:
    """PaymentIntent creations that the server executed (not injected failures, not replays)."""
    return [
        r
        for r in server.requests
        if r["method"] == "POST"
        and r["path"] == "/v1/payment_intents"
        and r["account"] == account
        and not r["injected"]
        and not r["replayed"]
    ]


# ---------------------------------------------------------------------------------------------
# off-session charges
# ---------------------------------------------------------------------------------------------


def test_a_finalized_retail_invoice_is_charged_to_the_saved_card(
    rebill: Rebill, linked: Agency
) -> None:
    saved = save_card(rebill, "pm_card_visa")
    assert saved["account"] == linked.id
    assert saved["card"] == "visa •••• 4242"
    assert invoice(rebill, RETAIL)["status"] == "open"

    document = charge(rebill, RETAIL)

    assert document["status"] == "paid"
    assert [a["status"] for a in document["attempts"]] == ["succeeded"]
    assert invoice(rebill, RETAIL)["status"] == "paid"
    created = intents(rebill.server, linked.id)
    assert len(created) == 1
    params = created[0]["params"]
    assert params["amount"] == "4900"
    assert params["currency"] == "usd"
    assert params["customer"] == saved["customer"]
    assert params["metadata"]["rebill_invoice"] == RETAIL
    assert created[0]["idempotency_key"].startswith(f"rebill:gamma:{RETAIL}:attempt:1:")
    # Charging a paid invoice again asks Stripe nothing.
    assert charge(rebill, RETAIL)["status"] == "paid"
    assert len(intents(rebill.server, linked.id)) == 1


def test_a_declined_card_leaves_the_invoice_open_and_the_wallet_unchanged(
    rebill: Rebill, linked: Agency
) -> None:
    # Stripe's 4000000000000341: it attaches to the customer, then every charge is declined.
    save_card(rebill, "pm_card_chargeCustomerFail")
    wallet = rebill.wallet("gamma")

    document = charge(rebill, RETAIL, code=EXIT_PAYMENT_FAILED)

    assert document["status"] == "open"
    (attempt,) = document["attempts"]
    assert attempt["status"] == "failed"
    assert attempt["code"] == "card_declined"
    assert "declined" in attempt["message"]
    assert invoice(rebill, RETAIL)["status"] == "open"
    assert rebill.wallet("gamma") == wallet
    # A new card, a new attempt with its own key: paid once.
    save_card(rebill, "pm_card_visa")
    again = charge(rebill, RETAIL)
    assert again["status"] == "paid"
    assert [a["status"] for a in again["attempts"]] == ["failed", "succeeded"]
    first, second = (a["idempotency_key"] for a in again["attempts"])
    assert first.startswith(f"rebill:gamma:{RETAIL}:attempt:1:")
    assert second.startswith(f"rebill:gamma:{RETAIL}:attempt:2:")


def test_a_card_that_needs_authentication_is_not_charged_off_session(
    rebill: Rebill, linked: Agency
) -> None:
    save_card(rebill, "pm_card_authenticationRequired")
    document = charge(rebill, RETAIL, code=EXIT_PAYMENT_FAILED)
    assert document["attempts"][-1]["status"] == "requires_action"
    assert document["attempts"][-1]["code"] == "authentication_required"
    assert invoice(rebill, RETAIL)["status"] == "open"
    # The client comes back on session and pays that PaymentIntent (here with another card);
    # its webhook settles the attempt and pays the invoice, once, even delivered twice.
    intent = document["attempts"][-1]["payment_intent"]
    linked.sdk.v1.payment_intents.confirm(
        intent, params={"payment_method": "pm_card_visa"}, options=linked.options
    )
    (succeeded,) = [
        e for e in linked.events("payment_intent.succeeded") if e["data"]["object"]["id"] == intent
    ]
    assert rebill.deliver(succeeded) == "payment succeeded"
    assert rebill.deliver(succeeded) == "replay ignored"
    assert invoice(rebill, RETAIL)["status"] == "paid"
    assert charge(rebill, RETAIL)["attempts"][-1]["status"] == "succeeded"


def test_a_500_is_retried_with_the_same_idempotency_key_and_charges_once(
    rebill: Rebill, linked: Agency
) -> None:
    save_card(rebill, "pm_card_visa")
    rebill.server.inject_failures(500, 1, "/v1/payment_intents")

    assert charge(rebill, RETAIL)["status"] == "paid"

    posts = [
        r
        for r in rebill.server.requests
        if r["path"] == "/v1/payment_intents" and r["account"] == linked.id
    ]
    assert [r["injected"] for r in posts] == [True, False]
    (key,) = {r["idempotency_key"] for r in posts}
    assert key.startswith(f"rebill:gamma:{RETAIL}:attempt:1:")
    succeeded = [
        pi
        for pi in linked.sdk.v1.payment_intents.list(options=linked.options).data
        if pi.status == "succeeded"
    ]
    assert len(succeeded) == 1


def test_an_attempt_whose_answer_never_came_is_asked_again_with_its_own_key(
    rebill: Rebill, linked: Agency
) -> None:
    first_card = save_card(rebill, "pm_card_visa")["payment_method"]
    # More failures than the SDK's retries: the command fails and the attempt stays pending.
    rebill.server.inject_failures(500, 3, "/v1/payment_intents")
    result = rebill.run("invoices", "charge", RETAIL, "--agency", "gamma", code=1)
    assert "gateway_error" in result.stderr
    assert invoice(rebill, RETAIL)["status"] == "open"
    # A new card saved meanwhile does not change what the pending attempt asks (same key,
    # same parameters); the next attempt would use it.
    assert save_card(rebill, "pm_card_mastercard")["payment_method"] != first_card

    document = charge(rebill, RETAIL)

    assert document["status"] == "paid"
    assert [a["attempt"] for a in document["attempts"]] == [1]
    assert len(intents(rebill.server, linked.id)) == 1
    posts = linked.requests("POST", "/v1/payment_intents")
    assert len(posts) == 4  # three injected 500s (the SDK's first try and two retries), one 200
    assert len({r["idempotency_key"] for r in posts}) == 1
    assert posts[-1]["params"]["payment_method"] == first_card


def test_the_payment_intent_webhook_settles_an_attempt_once_in_any_order(
    rebill: Rebill, linked: Agency
) -> None:
    save_card(rebill, "pm_card_visa")
    charge(rebill, RETAIL)
    (succeeded,) = [
        e
        for e in linked.events("payment_intent.succeeded")
        if e["data"]["object"]["metadata"].get("rebill_invoice") == RETAIL
    ]
    # The answer was recorded by the charge already: the event changes nothing, thrice.
    for _ in range(3):
        assert rebill.deliver(succeeded) in ("payment succeeded", "replay ignored")
    ledger = rebill.json("invoices", "list", "--agency", "gamma")
    assert [i["status"] for i in ledger["data"] if i["number"] == RETAIL] == ["paid"]


def test_without_a_saved_card_the_error_says_how_to_save_one(
    rebill: Rebill, linked: Agency
) -> None:
    result = rebill.run("invoices", "charge", RETAIL, "--agency", "gamma", code=5)
    assert "gateway save-card --agency gamma --sub-account bright-dental" in result.stderr
    assert intents(rebill.server, linked.id) == []


def test_receipts_and_unknown_invoices_are_not_charged(rebill: Rebill, linked: Agency) -> None:
    receipt = next(
        i["number"]
        for i in rebill.json("invoices", "list", "--agency", "gamma")["data"]
        if i["kind"] == "receipt"
    )
    result = rebill.run("invoices", "charge", receipt, "--agency", "gamma", code=5)
    assert "receipts are paid when issued" in result.stderr
    rebill.run("invoices", "charge", "GAMMA-999999", "--agency", "gamma", code=4)


def test_the_platform_collects_the_wholesale_invoice_from_the_agency(
    rebill: Rebill, linked: Agency
) -> None:
    saved = save_card(rebill, "pm_card_mastercard", sub=None)
    assert saved["account"] == "platform"

    document = charge(rebill, WHOLESALE)

    assert document["status"] == "paid"
    assert invoice(rebill, WHOLESALE)["status"] == "paid"
    (created,) = intents(rebill.server, None)[-1:]
    assert created["params"]["amount"] == "115"
    assert created["params"]["metadata"]["rebill_invoice"] == WHOLESALE
    assert "application_fee_amount" not in created["params"]
    # Nothing of it happened on the agency's own account.
    assert intents(rebill.server, linked.id) == []


def test_the_platform_fee_is_taken_from_direct_charges(rebill: Rebill, linked: Agency) -> None:
    assert rebill.json("gateway", "fee", "--agency", "gamma", "--percent", "2.5") == {
        "agency": "gamma",
        "application_fee_percent": "2.5",
    }
    assert rebill.status("gamma")["application_fee_percent"] == "2.5"
    save_card(rebill, "pm_card_visa")
    charge(rebill, RETAIL)
    # 2.5 % of 49.00 = 1.225 -> 1.23 (half up)
    assert intents(rebill.server, linked.id)[0]["params"]["application_fee_amount"] == "123"
    for bad in ("abc", "101", "-1", "2.555", "NaN"):
        result = rebill.run("gateway", "fee", "--agency", "gamma", "--percent", bad, code=1)
        assert "--percent" in result.stderr


# ---------------------------------------------------------------------------------------------
# refunds and credit notes
# ---------------------------------------------------------------------------------------------


def refund(rebill: Rebill, number: str, *extra: str, agency: str = "gamma") -> Any:
    return rebill.json("invoices", "refund", number, "--agency", agency, *extra)


def test_refunds_go_through_stripe_and_produce_credit_notes(rebill: Rebill, linked: Agency) -> None:
    save_card(rebill, "pm_card_visa")
    paid = charge(rebill, RETAIL)
    intent = paid["attempts"][0]["payment_intent"]

    part = refund(rebill, RETAIL, "--amount", "10.00")

    assert part["credit_note"] == "GAMMA-CN-000001"
    assert part["amount"] == "10.00"
    assert part["status"] == "paid"
    assert invoice(rebill, RETAIL)["status"] == "paid"
    rest = refund(rebill, RETAIL)
    assert rest["credit_note"] == "GAMMA-CN-000002"
    assert rest["amount"] == "39.00"
    assert rest["refunded"] == "49.00"
    assert invoice(rebill, RETAIL)["status"] == "refunded"
    refunds = linked.sdk.v1.refunds.list(
        params={"payment_intent": intent}, options=linked.options
    ).data
    assert sorted(r.amount for r in refunds) == [1000, 3900]
    note = invoice(rebill, "GAMMA-CN-000001")
    assert note["kind"] == "credit_note"
    assert note["total"] == "10.00"
    assert note["lines"][0]["code"] == "credit_note.refund"
    # Nothing left to refund; more than is left is refused with the amount that is left.
    result = rebill.run("invoices", "refund", RETAIL, "--agency", "gamma", code=5)
    assert "refunded in full already" in result.stderr


def test_a_refund_larger_than_what_is_left_is_refused_and_asks_stripe_nothing(
    rebill: Rebill, linked: Agency
) -> None:
    save_card(rebill, "pm_card_visa")
    charge(rebill, RETAIL)
    for bad in ("49.01", "0", "-1", "1.001", "ten"):
        result = rebill.run(
            "invoices", "refund", RETAIL, "--agency", "gamma", "--amount", bad, code=1
        )
        assert "--amount" in result.stderr
    assert linked.requests("POST", "/v1/refunds") == []
    # An open invoice is not refunded at all.
    rebill.run("invoices", "refund", WHOLESALE, "--agency", "gamma", code=5)


def test_a_manually_paid_invoice_is_refunded_with_a_credit_note_and_its_tax(
    rebill: Rebill,
) -> None:
    rebill.json("close", "--period", "2026-11", "--agency", "beta")
    assert invoice(rebill, "BETA-000001", "beta")["total"] == "58.80"
    rebill.json("invoices", "pay", "BETA-000001", "--agency", "beta", "--reference", "wire 7")

    document = refund(rebill, "BETA-000001", "--amount", "12.00", agency="beta")

    assert document["refund"] is None  # paid outside Stripe: no Stripe call
    note = invoice(rebill, document["credit_note"], "beta")
    # 12.00 of 58.80 holds 12.00 x 9.80 / 58.80 = 2.00 of VAT.
    assert (note["subtotal"], note["tax"], note["total"]) == ("10.00", "2.00", "12.00")


def test_refunding_a_credit_purchase_takes_the_credits_back(rebill: Rebill, linked: Agency) -> None:
    rebill.json("credits", "add", "--agency", "gamma", "--sub-account", SUB, "--amount", "20.00")
    receipt = next(
        i["number"]
        for i in rebill.json("invoices", "list", "--agency", "gamma")["data"]
        if i["kind"] == "receipt" and i["lines"][0]["code"] == "credits.purchase"
    )
    before = rebill.wallet("gamma")
    refund(rebill, receipt, "--amount", "5.00")
    assert before - rebill.wallet("gamma") == 5_000_000
    # The client spends 10.00 of what is left: 5.00 remain, so 15.00 cannot be taken back.
    debit_wallet(build(Settings.from_env(rebill.db)).uow, "gamma", SUB, 10_000_000, "x", NOW)
    result = rebill.run(
        "invoices", "refund", receipt, "--agency", "gamma", "--amount", "15.00", code=5
    )
    assert "bright-dental holds 5.00" in result.stderr
    assert rebill.wallet("gamma") == 5_000_000
    refund(rebill, receipt, "--amount", "5.00")
    assert rebill.wallet("gamma") == 0


# ---------------------------------------------------------------------------------------------
# onboarding: Account Links and OAuth
# ---------------------------------------------------------------------------------------------


def test_onboarding_through_an_account_link(rebill: Rebill, server: StripeTestServer) -> None:
    started = rebill.json("gateway", "onboard", "--agency", "gamma", "--country", "DE")
    account = started["account"]
    assert account.startswith("acct_")
    assert started["charges_enabled"] is False
    assert rebill.status("gamma")["account"] == account
    # Asking again before onboarding is done gives a new link for the same account.
    again = rebill.json("gateway", "onboard", "--agency", "gamma")
    assert again["account"] == account and again["url"] != started["url"]

    # The agency follows the link; Stripe sends it back to rebill's return URL.
    answer = httpx.get(again["url"], follow_redirects=False)
    assert answer.status_code in (302, 303)
    back = urlparse(answer.headers["location"])
    assert back.path == "/connect/return"
    refreshed = rebill.api.get(f"/connect/return?{back.query}", follow_redirects=False)
    assert refreshed.status_code == 303, refreshed.text
    assert refreshed.headers["location"] == "/panel/gateway?saved=onboarded"
    assert rebill.status("gamma")["charges_enabled"] is True
    assert rebill.status("gamma")["details_submitted"] is True
    # Onboarded: a second onboarding is refused.
    rebill.run("gateway", "onboard", "--agency", "gamma", code=5)


def test_return_urls_with_a_forged_agency_are_refused(rebill: Rebill) -> None:
    for state in ("gamma", "gamma.0000", "acme.deadbeef"):
        for path in ("/connect/return", "/connect/refresh", "/connect/oauth/callback"):
            answer = rebill.api.get(
                path, params={"state": state, "code": "ac_x"}, follow_redirects=False
            )
            assert answer.status_code == 422, (path, answer.text)


def test_oauth_links_an_existing_standard_account(
    rebill: Rebill, server: StripeTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REBILL_STRIPE_CLIENT_ID", "ca_rebill_test")
    url = rebill.run("gateway", "oauth-url", "--agency", "gamma").stdout.strip()
    query = parse_qs(urlparse(url).query)
    assert query["client_id"] == ["ca_rebill_test"]
    assert query["scope"] == ["read_write"]
    assert query["redirect_uri"] == ["http://rebill.test/connect/oauth/callback"]

    # The agency signs in to Stripe and approves; Stripe redirects to the callback.
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code in (302, 303)
    callback = urlparse(answer.headers["location"])
    assert callback.path == "/connect/oauth/callback"
    linked = rebill.api.get(f"/connect/oauth/callback?{callback.query}", follow_redirects=False)
    assert linked.status_code == 303, linked.text
    assert linked.headers["location"] == "/panel/gateway?saved=connected"
    assert rebill.status("gamma")["account"].startswith("acct_")
    assert rebill.status("gamma")["charges_enabled"] is True
    # A code is used once.
    code = parse_qs(callback.query)["code"][0]
    result = rebill.run("gateway", "oauth-complete", "--agency", "acme", "--code", code, code=1)
    assert "invalid_grant" in result.stderr


# ---------------------------------------------------------------------------------------------
# closing a month in `stripe` tax mode (acme: its client is in DE)
# ---------------------------------------------------------------------------------------------


def close_acme(rebill: Rebill, code: int = 0) -> Any:
    result = rebill.run("close", "--period", "2026-11", "--agency", "acme", "--json", code=code)
    return json.loads(result.stdout) if code == 0 else result


def test_close_refuses_until_stripe_tax_is_active_and_writes_nothing(
    rebill: Rebill, agency: Agency
) -> None:
    result = close_acme(rebill, code=3)
    assert "tax_not_configured" in result.stderr
    assert "rebill gateway link" in result.stderr
    rebill.link("acme", agency.id)
    agency.head_office()
    result = close_acme(rebill, code=3)
    assert "defaults.tax_code" in result.stderr
    assert "defaults.tax_behavior" in result.stderr
    assert "head_office" not in result.stderr.split("fix:")[0]
    assert [
        i
        for i in rebill.json("invoices", "list", "--agency", "acme")["data"]
        if i["kind"] == "retail"
    ] == []
    assert agency.requests("POST", "/v1/tax/calculations") == []
    agency.tax_code()
    agency.tax_behavior()
    agency.register()
    document = close_acme(rebill)
    (retail,) = document["agencies"][0]["retail_invoices"]
    assert (retail["subtotal"], retail["tax"], retail["total"]) == ("49.00", "9.31", "58.31")


def test_close_taxes_each_line_through_stripe_tax_exclusive(rebill: Rebill, ready: Agency) -> None:
    document = close_acme(rebill)
    (retail,) = document["agencies"][0]["retail_invoices"]
    # 49.00 x 19 % = 9.31 on top.
    assert [(ln["code"], ln["amount"], ln["tax"]) for ln in retail["lines"]] == [
        ("plan.fee", "49.00", "9.31")
    ]
    assert (retail["subtotal"], retail["tax"], retail["total"]) == ("49.00", "9.31", "58.31")
    (asked,) = ready.requests("POST", "/v1/tax/calculations")
    params = asked["params"]
    assert params["customer_details"]["address"]["country"] == "DE"
    assert params["line_items"][0] == {
        "amount": "4900",
        "reference": "line-0",
        "tax_behavior": "exclusive",
    }
    # Closing again reads the close back and asks Stripe nothing.
    assert close_acme(rebill) == document
    assert len(ready.requests("POST", "/v1/tax/calculations")) == 1


def test_close_with_inclusive_stripe_tax_keeps_the_total(rebill: Rebill, agency: Agency) -> None:
    agency.head_office()
    agency.tax_code()
    agency.tax_behavior("inclusive")
    agency.register()
    rebill.link("acme", agency.id)
    (retail,) = close_acme(rebill)["agencies"][0]["retail_invoices"]
    # 49.00 holds 49.00 - 49.00 / 1.19 = 7.8235... -> 7.82 of VAT.
    assert (retail["subtotal"], retail["tax"], retail["total"]) == ("49.00", "7.82", "49.00")


def test_close_without_a_registration_taxes_nothing(rebill: Rebill, agency: Agency) -> None:
    agency.head_office()
    agency.tax_code()
    agency.tax_behavior("inferred_by_currency")  # USD: exclusive
    rebill.link("acme", agency.id)
    (retail,) = close_acme(rebill)["agencies"][0]["retail_invoices"]
    assert (retail["subtotal"], retail["tax"], retail["total"]) == ("49.00", "0.00", "49.00")
    (asked,) = agency.requests("POST", "/v1/tax/calculations")
    assert asked["params"]["line_items"][0]["tax_behavior"] == "exclusive"


# ---------------------------------------------------------------------------------------------
# auto top-ups charged to the saved card (BILLING_MODEL §7)
# ---------------------------------------------------------------------------------------------


def spend(rebill: Rebill, agency_id: str, call_id: str, seconds: int) -> None:
    """A December call: 100 included minutes first, then the wallet at 0.25 a minute."""
    path = rebill.folder / f"{call_id}.jsonl"
    row = {
        "call_id": call_id,
        "sub_account": SUB,
        "started_at": "2026-12-10T15:00:00Z",
        "duration_seconds": seconds,
        "direction": "outbound",
    }
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    assert rebill.json("usage", "import", str(path), "--agency", agency_id)["imported"] == 1


def with_top_up(rebill: Rebill, agency_id: str) -> None:
    document = world.catalog()
    for agency_doc in document["agencies"]:
        if agency_doc["id"] == agency_id:
            agency_doc["sub_accounts"][0]["auto_top_up"] = {"threshold": "0.80", "amount": "20.00"}
    rebill.apply(document)
    rebill.json("credits", "add", "--agency", agency_id, "--sub-account", SUB, "--amount", "1.00")


def test_an_auto_top_up_is_charged_once_to_the_saved_card_with_its_tax(
    rebill: Rebill, agency: Agency
) -> None:
    rebill.link("beta", agency.id)  # manual VAT 20 % exclusive
    with_top_up(rebill, "beta")
    save_card(rebill, "pm_card_visa", agency="beta")
    # 100 included minutes, then 1 minute at 0.25: the wallet falls to 0.75, below 0.80.
    spend(rebill, "beta", "long-call", 101 * 60)
    assert rebill.wallet("beta") == 750_000

    (done,) = rebill.json("credits", "top-ups", "--agency", "beta")["data"]

    assert done["status"] == "succeeded"
    assert rebill.wallet("beta") == 20_750_000  # the net 20.00 joins the wallet
    receipt = invoice(rebill, done["receipt"], "beta")
    assert (receipt["subtotal"], receipt["tax"], receipt["total"]) == ("20.00", "4.00", "24.00")
    (asked,) = agency.requests("POST", "/v1/payment_intents")
    assert asked["params"]["amount"] == "2400"
    assert asked["params"]["off_session"] == "true"
    # Nothing pending any more: a second run charges nothing.
    assert rebill.json("credits", "top-ups", "--agency", "beta")["data"] == []
    assert len(agency.requests("POST", "/v1/payment_intents")) == 1
    # The receipt is refundable through Stripe like any other.
    assert refund(rebill, done["receipt"], "--amount", "12.00", agency="beta")["refund"]


def test_a_declined_auto_top_up_adds_nothing_and_says_why(rebill: Rebill, agency: Agency) -> None:
    rebill.link("gamma", agency.id)
    with_top_up(rebill, "gamma")
    save_card(rebill, "pm_card_chargeCustomerFail")
    spend(rebill, "gamma", "long-call", 101 * 60)

    (done,) = rebill.json("credits", "top-ups", "--agency", "gamma")["data"]

    assert done["status"] == "failed"
    assert "declined" in done["message"]
    assert rebill.wallet("gamma") == 750_000


def test_an_auto_top_up_without_a_saved_card_stays_pending(rebill: Rebill, agency: Agency) -> None:
    rebill.link("gamma", agency.id)
    with_top_up(rebill, "gamma")
    spend(rebill, "gamma", "long-call", 101 * 60)
    (waiting,) = rebill.json("credits", "top-ups", "--agency", "gamma")["data"]
    assert (waiting["status"], waiting["message"]) == ("pending", "no saved card to charge")
    save_card(rebill, "pm_card_visa")
    (done,) = rebill.json("credits", "top-ups", "--agency", "gamma")["data"]
    assert done["status"] == "succeeded"
    assert rebill.wallet("gamma") == 20_750_000


# ---------------------------------------------------------------------------------------------
# the same over the REST API
# ---------------------------------------------------------------------------------------------


def api_key(rebill: Rebill, *args: str) -> dict[str, str]:
    key = rebill.json("keys", "create", *args)["key"]
    return {"Authorization": f"Bearer {key}"}


def test_charge_and_refund_over_the_api(rebill: Rebill, linked: Agency) -> None:
    billing = api_key(rebill, "--agency", "gamma", "--role", "billing")
    save_card(rebill, "pm_card_chargeCustomerFail")

    declined = rebill.api.post(f"/v1/invoices/{RETAIL}/charge", headers=billing)

    assert declined.status_code == 402, declined.text
    assert declined.headers["content-type"].startswith("application/problem+json")
    assert declined.json()["code"] == "payment_failed"
    assert declined.json()["errors"][0]["code"] == "card_declined"
    save_card(rebill, "pm_card_visa")
    headers = {**billing, "Idempotency-Key": "pay-once"}
    paid = rebill.api.post(f"/v1/invoices/{RETAIL}/charge", headers=headers)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"
    replayed = rebill.api.post(f"/v1/invoices/{RETAIL}/charge", headers=headers)
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert len(intents(rebill.server, linked.id)) == 2  # the declined one and the paid one

    refunded = rebill.api.post(
        f"/v1/invoices/{RETAIL}/refund", headers=billing, json={"amount": "9.00"}
    )
    assert refunded.status_code == 201, refunded.text
    note = refunded.json()["credit_note"]
    got = rebill.api.get(f"/v1/invoices/{note}", headers=billing).json()
    assert (got["kind"], got["credit_of"], got["total"]) == ("credit_note", RETAIL, "9.00")
    too_much = rebill.api.post(
        f"/v1/invoices/{RETAIL}/refund", headers=billing, json={"amount": "40.01"}
    )
    assert too_much.status_code == 422
    assert too_much.json()["param"] == "amount"


def test_other_tenants_cannot_charge_or_refund(rebill: Rebill, linked: Agency) -> None:
    other = api_key(rebill, "--agency", "beta", "--role", "billing")
    client = api_key(rebill, "--agency", "gamma", "--sub-account", SUB)
    save_card(rebill, "pm_card_visa")
    assert rebill.api.post(f"/v1/invoices/{RETAIL}/charge", headers=other).status_code == 404
    assert (
        rebill.api.post(f"/v1/invoices/{RETAIL}/refund", headers=other, json={}).status_code == 404
    )
    assert (
        rebill.api.post(f"/v1/invoices/{RETAIL}/refund", headers=client, json={}).status_code == 403
    )
    assert intents(rebill.server, linked.id) == []


def test_two_charges_of_one_invoice_at_once_charge_it_once(rebill: Rebill, linked: Agency) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from rebill.services.payments.collect import charge_invoice

    save_card(rebill, "pm_card_visa")
    app = build(Settings.from_env(rebill.db))

    def run() -> str:
        document = charge_invoice(app.uow, app.gateway, "gamma", RETAIL, NOW)
        return str(document["status"])

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: run(), range(2)))

    assert outcomes == ["paid", "paid"]
    assert len(intents(rebill.server, linked.id)) == 1
    (only,) = charge(rebill, RETAIL)["attempts"]
    assert only["status"] == "succeeded"
    app.dispose()


def test_an_unanswered_refund_is_finished_with_its_own_key_before_another(
    rebill: Rebill, linked: Agency
) -> None:
    save_card(rebill, "pm_card_visa")
    charge(rebill, RETAIL)
    rebill.server.inject_failures(500, 3, "/v1/refunds")
    rebill.run("invoices", "refund", RETAIL, "--agency", "gamma", "--amount", "10.00", code=1)
    assert [
        i
        for i in rebill.json("invoices", "list", "--agency", "gamma")["data"]
        if i["kind"] == "credit_note"
    ] == []
    # Another amount is refused until the unfinished one is done.
    result = rebill.run(
        "invoices", "refund", RETAIL, "--agency", "gamma", "--amount", "5.00", code=5
    )
    assert "still unfinished" in result.stderr

    finished = refund(rebill, RETAIL)

    assert (finished["amount"], finished["credit_note"]) == ("10.00", "GAMMA-CN-000001")
    posts = linked.requests("POST", "/v1/refunds")
    assert len(posts) == 4 and len({r["idempotency_key"] for r in posts}) == 1
    assert refund(rebill, RETAIL)["amount"] == "39.00"


def test_a_refund_stripe_refuses_moves_nothing(rebill: Rebill, linked: Agency) -> None:
    save_card(rebill, "pm_card_visa")
    intent = charge(rebill, RETAIL)["attempts"][0]["payment_intent"]
    # Refunded in full in the Stripe dashboard, outside rebill.
    linked.sdk.v1.refunds.create(params={"payment_intent": intent}, options=linked.options)
    result = rebill.run("invoices", "refund", RETAIL, "--agency", "gamma", code=1)
    assert "already been refunded" in result.stderr
    assert invoice(rebill, RETAIL)["status"] == "paid"
    assert [
        i
        for i in rebill.json("invoices", "list", "--agency", "gamma")["data"]
        if i["kind"] == "credit_note"
    ] == []
    # Nothing is left unfinished: the next refund is a new one (and Stripe refuses it again).
    again = rebill.run(
        "invoices", "refund", RETAIL, "--agency", "gamma", "--amount", "1.00", code=1
    )
    assert "still unfinished" not in again.stderr


def test_the_card_of_a_checkout_is_saved_and_charges_the_next_invoice(
    rebill: Rebill, linked: Agency
) -> None:
    """The client buys credits on the hosted page; that card is then the one rebill charges
    off session (Stripe's `setup_future_usage`)."""
    started = rebill.json(
        "checkout",
        "create",
        "--agency",
        "gamma",
        "--sub-account",
        SUB,
        "--action",
        "credits",
        "--amount",
        "20.00",
    )
    (created,) = linked.requests("POST", "/v1/checkout/sessions")
    assert created["params"]["customer"].startswith("cus_")
    assert created["params"]["payment_intent_data"]["setup_future_usage"] == "off_session"
    # Before it completes there is a customer but no card: charging says so.
    result = rebill.run("invoices", "charge", RETAIL, "--agency", "gamma", code=5)
    assert "no saved card" in result.stderr
    rebill.server.complete_checkout(started["id"], payment_method="pm_card_amex")
    assert rebill.deliver(linked.completion(started["id"])) == "credits applied"

    document = charge(rebill, RETAIL)

    assert document["status"] == "paid"
    (asked,) = intents(rebill.server, linked.id)[-1:]
    assert asked["params"]["customer"] == created["params"]["customer"]
    saved = linked.sdk.v1.payment_methods.retrieve(
        asked["params"]["payment_method"], options=linked.options
    )
    assert (saved.card.brand, saved.customer) == ("amex", created["params"]["customer"])


# ---------------------------------------------------------------------------------------------
# a client pays an open invoice on the hosted page
# ---------------------------------------------------------------------------------------------


def pay_online(rebill: Rebill, number: str, code: int = 0) -> Any:
    args = ["checkout", "create", "--agency", "gamma", "--sub-account", SUB]
    result = rebill.run(*args, "--action", "invoice", "--invoice", number, "--json", code=code)
    return json.loads(result.stdout) if code == 0 else result


def test_a_client_pays_an_open_invoice_on_the_hosted_page(rebill: Rebill, linked: Agency) -> None:
    started = pay_online(rebill, RETAIL)
    assert (started["amount"], started["tax"]) == ("49.00", "0.00")
    (created,) = linked.requests("POST", "/v1/checkout/sessions")
    assert "automatic_tax" not in created["params"]  # the invoice already holds its tax
    rebill.server.complete_checkout(started["id"])
    event = linked.completion(started["id"])

    assert rebill.deliver(event) == "invoice paid"
    assert rebill.deliver(event) == "replay ignored"

    assert invoice(rebill, RETAIL)["status"] == "paid"
    (attempt,) = charge(rebill, RETAIL)["attempts"]
    assert (attempt["status"], attempt["idempotency_key"]) == (
        "succeeded",
        f"checkout:{started['id']}",
    )
    # Paid: no new checkout for it, and it can be refunded through Stripe.
    assert "nothing to pay" in pay_online(rebill, RETAIL, code=5).stderr
    assert refund(rebill, RETAIL, "--amount", "4.00")["refund"].startswith("re_")


def test_an_invoice_paid_twice_gives_the_second_payment_back(
    rebill: Rebill, linked: Agency
) -> None:
    started = pay_online(rebill, RETAIL)
    save_card(rebill, "pm_card_visa")
    charge(rebill, RETAIL)  # the agency charged it off session meanwhile
    rebill.server.complete_checkout(started["id"])

    outcome = rebill.deliver(linked.completion(started["id"]))

    assert outcome == "invoice paid already: refunding"
    intent = linked.completion(started["id"])["data"]["object"]["payment_intent"]
    (given_back,) = linked.sdk.v1.refunds.list(
        params={"payment_intent": intent}, options=linked.options
    ).data
    assert given_back.amount == 4900
    attempts = charge(rebill, RETAIL)["attempts"]
    assert [a["status"] for a in attempts] == ["succeeded", "returned"]
    assert attempts[1]["message"] == f"paid twice: refunded {given_back.id}"
    # The ledger saw one payment.
    assert invoice(rebill, RETAIL)["status"] == "paid"


def test_only_the_clients_own_open_retail_invoices_are_payable(
    rebill: Rebill, linked: Agency
) -> None:
    assert "does not exist" in pay_online(rebill, WHOLESALE, code=4).stderr
    assert "does not exist" in pay_online(rebill, "GAMMA-999999", code=4).stderr


def test_a_late_authentication_after_another_payment_is_given_back(
    rebill: Rebill, linked: Agency
) -> None:
    save_card(rebill, "pm_card_authenticationRequired")
    first = charge(rebill, RETAIL, code=EXIT_PAYMENT_FAILED)["attempts"][0]["payment_intent"]
    save_card(rebill, "pm_card_visa")
    assert charge(rebill, RETAIL)["status"] == "paid"  # attempt 2
    # The client then completes the first PaymentIntent on session after all.
    linked.sdk.v1.payment_intents.confirm(
        first, params={"payment_method": "pm_card_visa"}, options=linked.options
    )
    (late,) = [
        e for e in linked.events("payment_intent.succeeded") if e["data"]["object"]["id"] == first
    ]

    assert rebill.deliver(late) == "payment duplicate"

    (given_back,) = linked.sdk.v1.refunds.list(
        params={"payment_intent": first}, options=linked.options
    ).data
    assert given_back.amount == 4900
    statuses = [a["status"] for a in charge(rebill, RETAIL)["attempts"]]
    assert statuses == ["returned", "succeeded"]


def test_manual_payment_is_refused_for_credit_notes_and_refunded_invoices(
    rebill: Rebill, linked: Agency
) -> None:
    save_card(rebill, "pm_card_visa")
    charge(rebill, RETAIL)
    note = refund(rebill, RETAIL)["credit_note"]
    for number in (note, RETAIL):
        result = rebill.run(
            "invoices", "pay", number, "--agency", "gamma", "--reference", "x", code=5
        )
        assert "only" in result.stderr
    assert invoice(rebill, RETAIL)["status"] == "refunded"


def test_two_top_up_runners_at_once_charge_once(rebill: Rebill, agency: Agency) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from rebill.services.payments.top_ups import process_top_ups

    rebill.link("gamma", agency.id)
    with_top_up(rebill, "gamma")
    save_card(rebill, "pm_card_visa")
    spend(rebill, "gamma", "long-call", 101 * 60)
    app = build(Settings.from_env(rebill.db))
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: process_top_ups(app.uow, app.gateway, NOW), range(2)))
    app.dispose()

    statuses = sorted(r["status"] for run in runs for r in run)
    assert statuses.count("succeeded") >= 1
    assert len(agency.requests("POST", "/v1/payment_intents")) <= 2
    succeeded = [
        pi
        for pi in agency.sdk.v1.payment_intents.list(options=agency.options).data
        if pi.status == "succeeded"
    ]
    assert len(succeeded) == 1
    assert rebill.wallet("gamma") == 20_750_000


def test_connect_links_expire_and_never_replace_an_account_that_takes_charges(
    rebill: Rebill, linked: Agency, server: StripeTestServer
) -> None:
    from datetime import timedelta

    from rebill.domain.link_state import (
        PURPOSE_OAUTH,
        PURPOSE_ONBOARD_REFRESH,
        PURPOSE_ONBOARD_RETURN,
    )
    from rebill.services.payments.link_state import issue_state

    app = build(Settings.from_env(rebill.db))

    def state(purpose: str, at: datetime = NOW) -> str:
        """A state as `rebill gateway onboard` / `oauth-url` make them (the operator's)."""
        return issue_state(app.uow, app.gateway.signing_secret, "gamma", purpose, None, at)

    old = state(PURPOSE_ONBOARD_RETURN, NOW - timedelta(hours=2))
    answer = rebill.api.get("/connect/return", params={"state": old}, follow_redirects=False)
    assert answer.status_code == 422
    assert "expired" in answer.json()["detail"]
    # gamma's account takes charges: a leaked (valid) state and someone else's code do not
    # relink it, and no fresh onboarding link is handed out for it.
    other = server.create_oauth_code()
    hijack = rebill.api.get(
        "/connect/oauth/callback",
        params={"state": state(PURPOSE_OAUTH), "code": other},
        follow_redirects=False,
    )
    assert hijack.status_code == 409, hijack.text
    assert rebill.status("gamma")["account"] == linked.id
    refresh = rebill.api.get(
        "/connect/refresh",
        params={"state": state(PURPOSE_ONBOARD_REFRESH)},
        follow_redirects=False,
    )
    assert refresh.status_code == 409
    app.dispose()


def test_a_charge_stripe_refuses_outright_ends_the_attempt(rebill: Rebill, linked: Agency) -> None:
    saved = save_card(rebill, "pm_card_visa")
    # The customer is deleted in the Stripe dashboard: Stripe answers 404, nothing happened.
    linked.sdk.v1.customers.delete(saved["customer"], options=linked.options)
    refused = charge(rebill, RETAIL, code=EXIT_PAYMENT_FAILED)
    assert refused["attempts"][-1]["status"] == "failed"
    assert refused["attempts"][-1]["code"] == "resource_missing"
    save_card(rebill, "pm_card_visa")
    paid = charge(rebill, RETAIL)
    assert [a["status"] for a in paid["attempts"]] == ["failed", "succeeded"]


def test_a_refund_made_but_unrecorded_is_found_not_made_again(
    rebill: Rebill, linked: Agency
) -> None:
    """The refund went through at Stripe, the answer was lost, and a day later Stripe has
    forgotten the idempotency key: the retry finds the refund by its key in the metadata."""
    import dataclasses

    from rebill.domain.errors import GatewayError
    from rebill.services.payments.collect import refund_invoice

    save_card(rebill, "pm_card_visa")
    charge(rebill, RETAIL)
    app = build(Settings.from_env(rebill.db))
    real = app.gateway.gateways["stripe"]

    class LostAnswer:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def refund(self, *args: Any) -> str:
            real.refund(*args)
            raise GatewayError("stripe", "APIConnectionError", "connection reset", True)

    broken = dataclasses.replace(app.gateway, gateways={"stripe": LostAnswer()})
    with pytest.raises(GatewayError):
        refund_invoice(app.uow, broken, "gamma", RETAIL, "10.00", NOW)
    app.dispose()
    with rebill.server.state.lock:  # a day later: Stripe no longer knows the key
        rebill.server.state.data(linked.id).idempotency.clear()

    finished = refund(rebill, RETAIL)

    assert finished["amount"] == "10.00"
    intent = charge(rebill, RETAIL)["attempts"][0]["payment_intent"]
    made = linked.sdk.v1.refunds.list(params={"payment_intent": intent}, options=linked.options)
    assert [r.amount for r in made.data] == [1000]
    assert finished["refund"] == made.data[0].id


def test_a_charge_made_but_unrecorded_is_found_not_made_again(
    rebill: Rebill, linked: Agency
) -> None:
    """The charge went through at Stripe, the answer was lost, and Stripe has since forgotten
    the idempotency key: the retry finds the PaymentIntent by its key in the metadata."""
    import dataclasses

    from rebill.domain.errors import GatewayError
    from rebill.services.payments.collect import charge_invoice

    save_card(rebill, "pm_card_visa")
    app = build(Settings.from_env(rebill.db))
    real = app.gateway.gateways["stripe"]

    class LostAnswer:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def charge(self, *args: Any) -> Any:
            real.charge(*args)
            raise GatewayError("stripe", "APIConnectionError", "connection reset", True)

    broken = dataclasses.replace(app.gateway, gateways={"stripe": LostAnswer()})
    with pytest.raises(GatewayError):
        charge_invoice(app.uow, broken, "gamma", RETAIL, NOW)
    app.dispose()
    with rebill.server.state.lock:
        rebill.server.state.data(linked.id).idempotency.clear()

    document = charge(rebill, RETAIL)

    assert document["status"] == "paid"
    assert [a["attempt"] for a in document["attempts"]] == [1]
    assert len(intents(rebill.server, linked.id)) == 1
