"""A third payment gateway plugs in without touching the domain: an adapter that implements the
`PaymentGateway` port, registered under its provider name in the gateway context (bootstrap's
job), is linkable, charges invoices, refunds them and keeps its own clearing account. The
adapter here is a small in-memory processor written for this test (it answers like a bank
transfer API: every charge settles, keyed by its idempotency key)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest

from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.domain.errors import GatewayError
from rebill.domain.gateway import (
    AccountStatus,
    ChargeOutcome,
    ChargeRequest,
    CheckoutRequest,
    CheckoutSession,
    SavedCard,
    TaxSettingsView,
)
from rebill.domain.ledger import Accounts
from rebill.domain.period import Period
from rebill.services.catalog.apply import apply_catalog
from rebill.services.invoicing.close import close_period
from rebill.services.payments.collect import charge_invoice, refund_invoice, save_card
from rebill.services.payments.gateway import GatewayContext, gateway_status, link_gateway
from rebill.services.ports import PaymentGateway

NOW = datetime(2026, 12, 15, 12, tzinfo=UTC)
PROVIDER = "ledgerpay"


class LedgerPay:
    """What a third adapter writes: the port's methods, its own ids, no Stripe."""

    def __init__(self) -> None:
        self.charges: dict[str, ChargeRequest] = {}
        self.refunds: list[tuple[str, int]] = []

    def account_status(self, account_id: str) -> AccountStatus:
        return AccountStatus(account_id, True, True)

    def save_card(
        self, account_id: str | None, name: str, email: str | None, payment_method: str
    ) -> SavedCard:
        return SavedCard(f"lp_cust_{name}", payment_method, "bank mandate")

    def charge(
        self, account_id: str | None, request: ChargeRequest, idempotency_key: str
    ) -> ChargeOutcome:
        self.charges.setdefault(idempotency_key, request)
        return ChargeOutcome("succeeded", f"lp_pay_{len(self.charges)}")

    def refund(
        self,
        account_id: str | None,
        payment_intent: str,
        amount_minor: int,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> str:
        self.refunds.append((payment_intent, amount_minor))
        return f"lp_refund_{len(self.refunds)}"

    def _unsupported(self, *_: Any, **__: Any) -> NoReturn:
        raise GatewayError(PROVIDER, "unsupported", "not offered by LedgerPay", retryable=False)

    def tax_settings(self, account_id: str) -> TaxSettingsView:
        return self._unsupported()

    def calculate_tax(
        self, account_id: str, currency: str, country: str, amounts: list[int], behavior: str
    ) -> list[int]:
        return self._unsupported()

    tax_calculation = record_tax = reverse_tax = refunds_of = _unsupported

    def create_checkout(
        self, account_id: str, request: CheckoutRequest, idempotency_key: str
    ) -> CheckoutSession:
        return self._unsupported()

    def verify_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        return self._unsupported()

    def create_account(self, country: str, email: str | None) -> AccountStatus:
        return self._unsupported()

    def account_link(self, account_id: str, refresh_url: str, return_url: str) -> str:
        return self._unsupported()

    def oauth_url(self, state: str, redirect_uri: str) -> str:
        return self._unsupported()

    def oauth_exchange(self, code: str) -> str:
        return self._unsupported()

    def create_customer(self, account_id: str | None, name: str, email: str | None) -> str:
        return f"lp_cust_{name}"

    def card_of_payment(self, account_id: str | None, payment_intent: str) -> SavedCard | None:
        return None

    def find_refund(
        self, account_id: str | None, payment_intent: str, idempotency_key: str
    ) -> str | None:
        return None

    def find_charge(
        self, account_id: str | None, customer_id: str, idempotency_key: str
    ) -> ChargeOutcome | None:
        return None


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[tuple[App, LedgerPay]]:
    built = build(Settings(database_url=db_url, now=NOW))
    adapter = LedgerPay()
    gateways: dict[str, PaymentGateway] = {PROVIDER: adapter}  # mypy: LedgerPay is a port
    registered = GatewayContext(gateways, "http://rebill.test", "secret")
    built.gateway = registered  # App builds its adapters on first use: this one never is
    world = built
    catalog = {
        "platform": {
            "name": "Platform",
            "currency": "USD",
            "wholesale": {
                "voice": {
                    "outbound": {"per_minute": "0.09", "increment": "1/1"},
                    "inbound": {"per_minute": "0.07", "increment": "1/1"},
                },
            },
        },
        "agencies": [
            {
                "id": "acme",
                "name": "Acme",
                "invoice_prefix": "ACME",
                "timezone": "UTC",
                "plans": [
                    {
                        "id": "starter",
                        "name": "Starter",
                        "monthly_fee": "49.00",
                        "included_minutes": 100,
                        "voice": {
                            "outbound": {"overage_per_minute": "0.25"},
                            "inbound": {"overage_per_minute": "0.20"},
                        },
                    }
                ],
                "sub_accounts": [
                    {
                        "id": "bright",
                        "name": "Bright",
                        "plan": "starter",
                        "subscribed_at": "2026-11-01T00:00:00Z",
                    }
                ],
            }
        ],
    }
    apply_catalog(world.uow, catalog, str(tmp_path / "catalog.json"), NOW)
    close_period(world.uow, Period(2026, 11), None, NOW)
    yield world, adapter
    built.dispose()


def test_a_registered_third_gateway_links_charges_and_refunds(
    app: tuple[App, LedgerPay],
) -> None:
    world, adapter = app
    assert world.gateway.providers == ["ledgerpay", "manual", "stripe"]
    status = link_gateway(world.uow, world.gateway, "acme", PROVIDER, "lp_acct_1", NOW)
    assert (status["provider"], status["account"], status["charges_enabled"]) == (
        PROVIDER,
        "lp_acct_1",
        True,
    )
    saved = save_card(world.uow, world.gateway, "acme", "bright", "pm_mandate_77", NOW)
    assert saved["card"] == "bank mandate"

    paid = charge_invoice(world.uow, world.gateway, "acme", "ACME-000001", NOW)

    assert paid["status"] == "paid"
    (request,) = adapter.charges.values()
    assert (request.amount_minor, request.customer_id) == (4900, "lp_cust_Bright")
    refunded = refund_invoice(world.uow, world.gateway, "acme", "ACME-000001", "9.00", NOW)
    assert refunded["refund"] == "lp_refund_1"
    assert adapter.refunds == [("lp_pay_1", 900)]
    with world.uow() as uow:
        clearing = uow.for_agency("acme").ledger.balance_micros(Accounts.gateway_clearing(PROVIDER))
    assert clearing == (4900 - 900) * 10_000  # its own clearing account, in micros
    assert gateway_status(world.uow, world.gateway, "acme")["provider"] == PROVIDER


def test_an_unknown_provider_is_refused_with_the_known_ones(app: tuple[App, LedgerPay]) -> None:
    from rebill.domain.errors import ValidationError

    world, _ = app
    with pytest.raises(ValidationError) as refused:
        link_gateway(world.uow, world.gateway, "acme", "paypal", "x", NOW)
    assert "'paypal' is not one of ledgerpay, manual, stripe" in str(refused.value)
