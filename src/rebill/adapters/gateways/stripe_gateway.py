"""The Stripe gateway: the only module that imports `stripe` (the official SDK, pinned). Calls
on an agency's connected account carry its `Stripe-Account`; SDK errors never leave this module:
they become `GatewayError`, and Stripe's `stripe_tax_inactive` becomes `TaxNotConfiguredError`.
Minor units are converted here, at the edge."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import stripe

from rebill.domain.errors import GatewayError, TaxNotConfiguredError
from rebill.domain.gateway import (
    ALL_FIXES,
    AccountStatus,
    ChargeOutcome,
    ChargeRequest,
    CheckoutRequest,
    CheckoutSession,
    SavedCard,
    TaxSettingsView,
)
from rebill.services.ports.gateway import GatewayRefund

PROVIDER = "stripe"
network_retries_max = 2
# A webhook signature's timestamp may be this far in the past (the SDK's check) or in the
# future (rebill's: the SDK accepts any future time, so a signature made for later would
# stay replayable until then). Both against the wall clock, as Stripe signs with it.
webhook_tolerance_seconds = 300
webhook_future_tolerance_seconds = 300


class StripeGateway:
    def __init__(
        self,
        secret_key: str,
        api_base: str | None,
        webhook_secret: str | None,
        client_id: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        addresses: Any = {"api": api_base, "connect": api_base} if api_base else None
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses=addresses,
            max_network_retries=network_retries_max,
            client_id=client_id,
        )
        self.webhook_secret = webhook_secret
        self.wall_clock = wall_clock

    @staticmethod
    def _options(account_id: str | None, idempotency_key: str | None = None) -> Any:
        """Request options: on a connected account (`Stripe-Account`) or, with None, on the
        platform's own account."""
        options: dict[str, str] = {}
        if account_id:
            options["stripe_account"] = account_id
        if idempotency_key:
            options["idempotency_key"] = idempotency_key
        return options

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

    # -- linking: Account Links for accounts the platform creates, OAuth for existing ones ---
    def create_account(self, country: str, email: str | None) -> AccountStatus:
        params: Any = {"type": "express", "country": country.upper()}
        if email:
            params["email"] = email
        try:
            account = self.client.v1.accounts.create(params=params)
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        return AccountStatus(
            account.id, bool(account.charges_enabled), bool(account.details_submitted)
        )

    def account_link(self, account_id: str, refresh_url: str, return_url: str) -> str:
        params: Any = {
            "account": account_id,
            "type": "account_onboarding",
            "refresh_url": refresh_url,
            "return_url": return_url,
        }
        try:
            link = self.client.v1.account_links.create(params=params)
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        return str(link.url)

    def oauth_url(self, state: str, redirect_uri: str) -> str:
        params: Any = {"scope": "read_write", "state": state, "redirect_uri": redirect_uri}
        try:
            return self.client.oauth.authorize_url(params=params)
        except stripe.StripeError as exc:
            raise self._fail(exc) from None

    def oauth_exchange(self, code: str) -> str:
        """The connected account id an OAuth authorization code stands for."""
        params: Any = {"grant_type": "authorization_code", "code": code}
        try:
            token = self.client.oauth.token(params=params)
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        return str(token.stripe_user_id)

    # -- saved cards, off-session charges and refunds ---------------------------------------
    def create_customer(self, account_id: str | None, name: str, email: str | None) -> str:
        params: Any = {"name": name}
        if email:
            params["email"] = email
        try:
            customer = self.client.v1.customers.create(
                params=params, options=self._options(account_id)
            )
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        return str(customer.id)

    def save_card(
        self, account_id: str | None, name: str, email: str | None, payment_method: str
    ) -> SavedCard:
        """A customer with the payment method attached and made its default (a `pm_card_*`
        test token becomes a real PaymentMethod when attached)."""
        options = self._options(account_id)
        customer_id = self.create_customer(account_id, name, email)
        try:
            attach: Any = {"customer": customer_id}
            pm = self.client.v1.payment_methods.attach(
                payment_method, params=attach, options=options
            )
            default: Any = {"invoice_settings": {"default_payment_method": pm.id}}
            self.client.v1.customers.update(customer_id, params=default, options=options)
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        return SavedCard(customer_id, pm.id, self._label(pm))

    @staticmethod
    def _label(pm: Any) -> str:
        card = getattr(pm, "card", None)
        return f"{card.brand} •••• {card.last4}" if card is not None else str(pm.type)

    def card_of_payment(self, account_id: str | None, payment_intent: str) -> SavedCard | None:
        """The card a payment saved for later (`setup_future_usage`), if it saved one."""
        options = self._options(account_id)
        try:
            intent = self.client.v1.payment_intents.retrieve(payment_intent, options=options)
            if not intent.customer or not intent.payment_method:
                return None
            pm_id = str(getattr(intent.payment_method, "id", intent.payment_method))
            pm = self.client.v1.payment_methods.retrieve(pm_id, options=options)
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        if getattr(pm, "customer", None) is None:
            return None  # paid, not saved
        customer = str(getattr(intent.customer, "id", intent.customer))
        return SavedCard(customer, pm.id, self._label(pm))

    def charge(
        self, account_id: str | None, request: ChargeRequest, idempotency_key: str
    ) -> ChargeOutcome:
        """A confirmed off-session PaymentIntent; declines are an outcome, not an error."""
        params: Any = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "customer": request.customer_id,
            "payment_method": request.payment_method_id,
            "off_session": True,
            "confirm": True,
            "description": request.description,
            "metadata": {**request.metadata, "rebill_key": idempotency_key},
        }
        if request.application_fee_minor and account_id:
            params["application_fee_amount"] = request.application_fee_minor
        options = self._options(account_id, idempotency_key)
        try:
            intent = self.client.v1.payment_intents.create(params=params, options=options)
        except stripe.CardError as exc:
            body: Any = exc.json_body or {}
            error: Any = body.get("error") or {}
            intent_id = (error.get("payment_intent") or {}).get("id")
            code = str(exc.code or "card_declined")
            status = "requires_action" if code == "authentication_required" else "failed"
            return ChargeOutcome(status, intent_id, code, exc.user_message or str(exc))
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        return self._outcome(intent)

    @staticmethod
    def _outcome(intent: Any) -> ChargeOutcome:
        if intent.status == "succeeded":
            return ChargeOutcome("succeeded", intent.id)
        if intent.status == "processing":  # a bank debit: its webhook tells the end
            return ChargeOutcome("processing", intent.id)
        if intent.status == "requires_action":
            return ChargeOutcome(
                "requires_action",
                intent.id,
                "authentication_required",
                "the card needs the client to authenticate this payment",
            )
        return ChargeOutcome("failed", intent.id, intent.status, f"payment {intent.status}")

    def refund(
        self,
        account_id: str | None,
        payment_intent: str,
        amount_minor: int,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> str:
        params: Any = {
            "payment_intent": payment_intent,
            "amount": amount_minor,
            "metadata": {**metadata, "rebill_key": idempotency_key},
        }
        options = self._options(account_id, idempotency_key)
        try:
            refund = self.client.v1.refunds.create(params=params, options=options)
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        return str(refund.id)

    def find_charge(
        self, account_id: str | None, customer_id: str, idempotency_key: str
    ) -> ChargeOutcome | None:
        """A charge rebill asked before (its key is in its metadata), if Stripe made it, and
        where it stands: what a retry checks first, since Stripe forgets keys after 24 h."""
        params: Any = {"customer": customer_id, "limit": 100}
        try:
            intents = self.client.v1.payment_intents.list(
                params=params, options=self._options(account_id)
            )
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        for intent in intents.data:
            metadata: Any = intent.metadata.to_dict() if intent.metadata else {}
            if metadata.get("rebill_key") == idempotency_key:
                if intent.status == "requires_payment_method" and intent.last_payment_error:
                    error = intent.last_payment_error
                    code = str(error.code or "card_declined")
                    status = "requires_action" if code == "authentication_required" else "failed"
                    return ChargeOutcome(status, intent.id, code, error.message)
                return self._outcome(intent)
        return None

    def refunds_of(self, account_id: str | None, payment_intent: str) -> list[GatewayRefund]:
        params: Any = {"payment_intent": payment_intent, "limit": 100}
        try:
            refunds = self.client.v1.refunds.list(params=params, options=self._options(account_id))
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        found = []
        for refund in reversed(refunds.data):  # Stripe lists the newest first
            metadata: Any = refund.metadata.to_dict() if refund.metadata else {}
            key = metadata.get("rebill_key")
            found.append(
                GatewayRefund(
                    str(refund.id),
                    int(refund.amount),
                    str(refund.status),
                    str(key) if key else None,
                )
            )
        return found

    def find_refund(
        self, account_id: str | None, payment_intent: str, idempotency_key: str
    ) -> str | None:
        """A refund rebill asked before (its key is in its metadata), if Stripe made it: what
        a retry checks first, since Stripe forgets idempotency keys after 24 hours."""
        for refund in self.refunds_of(account_id, payment_intent):
            if refund.rebill_key == idempotency_key:
                return refund.id
        return None

    def tax_settings(self, account_id: str) -> TaxSettingsView:
        options = self._options(account_id)
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
        defaults = getattr(settings, "defaults", None)
        behavior = getattr(defaults, "tax_behavior", None) if defaults else None
        return TaxSettingsView(
            str(settings.status), tuple(missing), len(registrations.data), behavior
        )

    def _calculation(
        self, account_id: str, currency: str, country: str, amounts: list[int], behavior: str
    ) -> Any:
        """A Stripe Tax calculation of each amount (minor units) for a customer in `country`,
        with the account's default product tax code, its line items expanded."""
        params: Any = {
            "currency": currency.lower(),
            "line_items": [
                {"amount": amount, "reference": f"line-{index}", "tax_behavior": behavior}
                for index, amount in enumerate(amounts)
            ],
            "customer_details": {"address": {"country": country}, "address_source": "billing"},
            "expand": ["line_items"],
        }
        try:
            return self.client.v1.tax.calculations.create(
                params=params, options=self._options(account_id)
            )
        except stripe.StripeError as exc:
            raise self._fail(exc) from None

    def calculate_tax(
        self, account_id: str, currency: str, country: str, amounts: list[int], behavior: str
    ) -> list[int]:
        """Stripe Tax's tax on each amount (minor units) for a customer in `country`."""
        return self.tax_calculation(account_id, currency, country, amounts, behavior)[1]

    def tax_calculation(
        self, account_id: str, currency: str, country: str, amounts: list[int], behavior: str
    ) -> tuple[str, list[int]]:
        calculation = self._calculation(account_id, currency, country, amounts, behavior)
        items = calculation.line_items.data if calculation.line_items else []
        taxes = {item.reference: int(item.amount_tax) for item in items}
        return str(calculation.id), [taxes[f"line-{index}"] for index in range(len(amounts))]

    def record_tax(
        self, account_id: str, calculation_id: str, reference: str, idempotency_key: str
    ) -> str:
        params: Any = {"calculation": calculation_id, "reference": reference}
        try:
            transaction = self.client.v1.tax.transactions.create_from_calculation(
                params=params, options=self._options(account_id, idempotency_key)
            )
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        return str(transaction.id)

    def reverse_tax(
        self,
        account_id: str,
        transaction_id: str,
        reference: str,
        flat_amount_minor: int | None,
        idempotency_key: str,
    ) -> str:
        params: Any = {
            "original_transaction": transaction_id,
            "reference": reference,
            "mode": "full" if flat_amount_minor is None else "partial",
        }
        if flat_amount_minor is not None:
            params["flat_amount"] = -flat_amount_minor  # Stripe counts a reversal negative
        try:
            reversal = self.client.v1.tax.transactions.create_reversal(
                params=params, options=self._options(account_id, idempotency_key)
            )
        except stripe.StripeError as exc:
            raise self._fail(exc) from None
        return str(reversal.id)

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
        intent: dict[str, Any] = {}
        if request.application_fee_minor:
            intent["application_fee_amount"] = request.application_fee_minor
        if request.customer_id:
            params["customer"] = request.customer_id
            if request.save_card:  # the card is kept for the client's next invoices
                intent["setup_future_usage"] = "off_session"
        if intent:
            params["payment_intent_data"] = {**intent, "metadata": request.metadata}
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
        """The event if the `Stripe-Signature` header is valid (constant-time compare inside
        the SDK) and its timestamp is neither older than `webhook_tolerance_seconds` nor
        further ahead than `webhook_future_tolerance_seconds`; GatewayError otherwise."""
        if not self.webhook_secret:
            raise GatewayError(
                PROVIDER,
                "webhook_secret_missing",
                "set REBILL_STRIPE_WEBHOOK_SECRET",
                retryable=False,
            )
        try:
            event = stripe.Webhook.construct_event(
                payload, signature, self.webhook_secret, tolerance=webhook_tolerance_seconds
            )
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise GatewayError(PROVIDER, "invalid_signature", str(exc), retryable=False) from None
        signed_at = _signed_at(signature or "")
        if signed_at > self.wall_clock() + webhook_future_tolerance_seconds:
            raise GatewayError(
                PROVIDER,
                "invalid_signature",
                f"Timestamp in the future beyond the tolerance zone ({signed_at})",
                retryable=False,
            )
        result: dict[str, Any] = event.to_dict()
        return result


def _signed_at(header: str) -> int:
    """The timestamp the SDK checked the signature with: the header's first `t=`."""
    for item in header.split(","):
        parts = item.split("=", 2)  # parsed as the SDK does, so the same value is read
        if parts[0] == "t":
            return int(parts[1])
    raise AssertionError("construct_event accepted a header without a timestamp")
