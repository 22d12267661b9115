"""Check rebill's Stripe adapter against Stripe itself, in test mode (opt-in).

    STRIPE_TEST_SECRET_KEY=sk_test_... uv run python scripts/stripe_live_check.py

Without the variable it prints why it skipped and exits 0, so it is safe anywhere. With a test
key (never a live one: it refuses `sk_live_`), it runs the flows the in-repo test server stands
in for, through the same adapter rebill uses (`StripeGateway`), on the platform's own account
and on a fresh Express account:

1. a saved card (`pm_card_visa`) charged off session, asked twice with one idempotency key:
   one PaymentIntent; then half of it refunded;
2. a card that attaches and then declines (`pm_card_chargeCustomerFail`): a `failed` outcome
   with Stripe's code, not an exception;
3. Stripe Tax settings read back as rebill's readiness checklist, and a Tax Calculation when
   the platform's Tax is active (else `stripe_tax_inactive` must map to tax_not_configured);
4. an Express account created and its onboarding Account Link (not followed: a person does
   that); its status read back with charges disabled.

Each step prints PASS or FAIL; the exit status is the number of failures. `STRIPE_API_BASE`
points it elsewhere (the tests run it against `rebill stripe-test-server` this way).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable

from rebill.adapters.gateways.stripe_gateway import StripeGateway
from rebill.domain.errors import TaxNotConfiguredError
from rebill.domain.gateway import ChargeRequest, resolve_tax_behavior, tax_readiness

KEY_VARIABLE = "STRIPE_TEST_SECRET_KEY"


def main() -> int:
    key = os.environ.get(KEY_VARIABLE, "")
    if not key:
        print(f"skipped: set {KEY_VARIABLE}=sk_test_… to check rebill against Stripe test mode")
        return 0
    if not key.startswith(("sk_test_", "rk_test_")):
        print(f"refused: {KEY_VARIABLE} must be a test-mode key (sk_test_…)")
        return 1
    gateway = StripeGateway(key, os.environ.get("STRIPE_API_BASE") or None, None)
    run_id = uuid.uuid4().hex[:10]
    failures = 0

    def step(name: str, check: Callable[[], str]) -> None:
        nonlocal failures
        try:
            detail = check()
        except Exception as error:  # report every step, whatever breaks
            failures += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")
        else:
            print(f"PASS {name}: {detail}")

    def charge_and_refund() -> str:
        card = gateway.save_card(None, f"rebill live check {run_id}", None, "pm_card_visa")
        request = ChargeRequest(
            card.customer_id, card.payment_method_id, 150, "usd", "rebill live check", {}
        )
        key = f"rebill-live-check:{run_id}:charge"
        first = gateway.charge(None, request, key)
        again = gateway.charge(None, request, key)
        assert first.status == "succeeded", first
        assert again.payment_intent == first.payment_intent, (first, again)
        refund = gateway.refund(None, first.payment_intent or "", 75, f"{key}:refund", {})
        return f"{first.payment_intent} charged once under one key, refund {refund}"

    def decline() -> str:
        card = gateway.save_card(
            None, f"rebill decline {run_id}", None, "pm_card_chargeCustomerFail"
        )
        request = ChargeRequest(
            card.customer_id, card.payment_method_id, 150, "usd", "rebill live check", {}
        )
        outcome = gateway.charge(None, request, f"rebill-live-check:{run_id}:decline")
        assert outcome.status == "failed" and outcome.code == "card_declined", outcome
        return f"declined as {outcome.code}: {outcome.message}"

    def tax() -> str:
        settings = gateway.tax_settings("")
        readiness = tax_readiness("stripe", settings)
        behavior = resolve_tax_behavior(settings.behavior, "usd")
        try:
            taxes = gateway.calculate_tax("", "usd", "US", [1000], behavior)
        except TaxNotConfiguredError as error:
            assert not readiness.ready, "active settings, yet stripe_tax_inactive"
            return f"status {settings.status}; inactive maps to {error.code}"
        assert readiness.ready, "a calculation went through on inactive settings"
        return f"status {settings.status}, tax on 10.00 in the US: {taxes[0]}"

    def onboarding() -> str:
        account = gateway.create_account("US", f"live-check-{run_id}@example.com")
        url = gateway.account_link(
            account.account_id, "https://example.com/refresh", "https://example.com/return"
        )
        status = gateway.account_status(account.account_id)
        assert url.startswith(("https://", "http://127.0.0.1")), url
        assert not status.charges_enabled, status
        return f"{account.account_id}: onboarding at {url[:60]}…"

    step("off-session charge, one key, refund", charge_and_refund)
    step("declined card is an outcome", decline)
    step("Stripe Tax readiness and calculation", tax)
    step("Express account and Account Link", onboarding)
    return failures


if __name__ == "__main__":
    sys.exit(main())
