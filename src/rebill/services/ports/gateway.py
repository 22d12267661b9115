"""The payment gateway port: a provider, plain data in and out (saleor's rule). The Stripe
adapter implements it; another provider implements the same methods, raising
GatewayError(code "unsupported") for what it does not offer, and is registered in bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from rebill.domain.gateway import (
    AccountStatus,
    ChargeOutcome,
    ChargeRequest,
    CheckoutRequest,
    CheckoutSession,
    SavedCard,
    TaxSettingsView,
)


@dataclass(frozen=True)
class GatewayRefund:
    """A refund the provider holds for a payment: rebill's own carry `rebill_key` (the key
    rebill asked with); one made in the provider's dashboard carries none."""

    id: str
    amount_minor: int
    status: str
    rebill_key: str | None


class PaymentGateway(Protocol):
    """A payment provider (implemented by the Stripe adapter)."""

    def account_status(self, account_id: str) -> AccountStatus: ...

    def tax_settings(self, account_id: str) -> TaxSettingsView: ...

    def create_checkout(
        self, account_id: str, request: CheckoutRequest, idempotency_key: str
    ) -> CheckoutSession: ...

    def verify_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The verified event, as the provider sent it (its own JSON shape)."""
        ...

    def calculate_tax(
        self, account_id: str, currency: str, country: str, amounts: list[int], behavior: str
    ) -> list[int]: ...

    def tax_calculation(
        self, account_id: str, currency: str, country: str, amounts: list[int], behavior: str
    ) -> tuple[str, list[int]]:
        """A tax calculation of the amounts (as `calculate_tax`): its id (what the tax
        transaction of the sale is made from) and the tax on each amount."""
        ...

    def record_tax(
        self, account_id: str, calculation_id: str, reference: str, idempotency_key: str
    ) -> str:
        """The tax transaction made from a calculation (its id); `reference` is unique."""
        ...

    def reverse_tax(
        self,
        account_id: str,
        transaction_id: str,
        reference: str,
        flat_amount_minor: int | None,
        idempotency_key: str,
    ) -> str:
        """A reversal of a tax transaction: in full (None), or of `flat_amount_minor` (tax
        included, positive here; Stripe takes it negative). Its id."""
        ...

    def create_account(self, country: str, email: str | None) -> AccountStatus: ...

    def account_link(self, account_id: str, refresh_url: str, return_url: str) -> str: ...

    def oauth_url(self, state: str, redirect_uri: str) -> str: ...

    def oauth_exchange(self, code: str) -> str: ...

    def save_card(
        self, account_id: str | None, name: str, email: str | None, payment_method: str
    ) -> SavedCard: ...

    def create_customer(self, account_id: str | None, name: str, email: str | None) -> str: ...

    def refunds_of(self, account_id: str | None, payment_intent: str) -> list[GatewayRefund]:
        """Every refund of a payment, oldest first."""
        ...

    def find_refund(
        self, account_id: str | None, payment_intent: str, idempotency_key: str
    ) -> str | None: ...

    def find_charge(
        self, account_id: str | None, customer_id: str, idempotency_key: str
    ) -> ChargeOutcome | None: ...

    def card_of_payment(self, account_id: str | None, payment_intent: str) -> SavedCard | None: ...

    def charge(
        self, account_id: str | None, request: ChargeRequest, idempotency_key: str
    ) -> ChargeOutcome: ...

    def refund(
        self,
        account_id: str | None,
        payment_intent: str,
        amount_minor: int,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> str: ...
