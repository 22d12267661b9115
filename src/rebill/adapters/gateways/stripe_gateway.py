"""The Stripe gateway: the only module that imports `stripe` (the official SDK, pinned). Calls
on an agency's connected account carry its `Stripe-Account`; SDK errors never leave this module:
they become `GatewayError`, and Stripe's `stripe_tax_inactive` becomes `TaxNotConfiguredError`.
Minor units are converted here, at the edge."""

from __future__ import annotations

from typing import Any

import stripe

from rebill.domain.errors import GatewayError, TaxNotConfiguredError
from rebill.domain.gateway import (
    ALL_FIXES,
    AccountStatus,
    CheckoutRequest,
    CheckoutSession,
    TaxSettingsView,
)

PROVIDER = "stripe"
network_retries_max = 2


class StripeGateway:
    def __init__(self, secret_key: str, api_base: str | None, webhook_secret: str | None) -> None:
        addresses: Any = {"api": api_base, "connect": api_base} if api_base else None
        self.client = stripe.StripeClient(
            secret_key, base_addresses=addresses, max_network_retries=network_retries_max
        )
        self.webhook_secret = webhook_secret

    def _fail(self, error: stripe.StripeError) -> Exception:
        code = str(getattr(error, "code", None) or type(error).__name__)
        if code == "stripe_tax_inactive":
            return TaxNotConfiguredError(["stripe_tax_inactive"], list(ALL_FIXES))
        retryable = isinstance(error, stripe.APIConnectionError | stripe.RateLimitError) or (
            (error.http_status or 0) >= 500
        )
        message = getattr(error, "user_message", None) or str(error) or code
        return GatewayError(PROVIDER, code, message, retryable)

    def account_status(self, account_id: str) -> AccountStatus:
        try:
            account = self.client.v1.accounts.retrieve(account_id)
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        return AccountStatus(
            account.id, bool(account.charges_enabled), bool(account.details_submitted)
        )

    def tax_settings(self, account_id: str) -> TaxSettingsView:
        options: Any = {"stripe_account": account_id}
        try:
            settings = self.client.v1.tax.settings.retrieve(options=options)
            registrations = self.client.v1.tax.registrations.list(
                params={"status": "active", "limit": 100}, options=options
            )
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        missing: list[str] = []
        details = getattr(settings, "status_details", None)
        pending = getattr(details, "pending", None) if details else None
        if pending is not None:
            missing = list(getattr(pending, "missing_fields", None) or [])
        return TaxSettingsView(str(settings.status), tuple(missing), len(registrations.data))

    def create_checkout(
        self, account_id: str, request: CheckoutRequest, idempotency_key: str
    ) -> CheckoutSession:
        product: dict[str, Any] = {"name": request.description}
        if request.tax_code:
            product["tax_code"] = request.tax_code
        items: list[dict[str, Any]] = [
            {
                "price_data": {
                    "currency": request.currency.lower(),
                    "unit_amount": request.amount_minor,
                    "product_data": product,
                },
                "quantity": 1,
            }
        ]
        if request.tax_minor:
            items.append(
                {
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": request.tax_minor,
                        "product_data": {"name": "Tax"},
                    },
                    "quantity": 1,
                }
            )
        params: Any = {
            "mode": "payment",
            "line_items": items,
            "metadata": request.metadata,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        if request.automatic_tax:
            params["automatic_tax"] = {"enabled": True}
        options: Any = {"stripe_account": account_id, "idempotency_key": idempotency_key}
        try:
            session = self.client.v1.checkout.sessions.create(params=params, options=options)
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        details = getattr(session, "total_details", None)
        tax = int(getattr(details, "amount_tax", 0) or 0) if details else 0
        return CheckoutSession(
            session.id, session.url, int(session.amount_total or 0), tax, str(session.status)
        )

    def verify_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event if the `Stripe-Signature` header is valid (tolerance 300 s,
        constant-time compare inside the SDK); GatewayError otherwise."""
        if not self.webhook_secret:
            raise GatewayError(
                PROVIDER,
                "webhook_secret_missing",
                "set REBILL_STRIPE_WEBHOOK_SECRET",
                retryable=False,
            )
        try:
            event = stripe.Webhook.construct_event(payload, signature, self.webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise GatewayError(PROVIDER, "invalid_signature", str(exc), retryable=False) from None
        result: dict[str, Any] = event.to_dict()
        return result
