"""Payment methods: cards made from Stripe's test ids, tokens and numbers (`cards`), attached
to and detached from customers. Each remembers its test card, which decides its payments."""

from __future__ import annotations

import time

from stripe_test_server import cards
from stripe_test_server.errors import ApiError, invalid_request, no_such, param_error
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import Obj, merge_metadata, new_id, now

CARD_LIFETIME_YEARS = 3


class PaymentMethods:
    def __init__(self, state: State) -> None:
        self.state = state

    def _new_payment_method(self, ctx: Ctx, card: cards.TestCard, params: Obj) -> Obj:
        data = self.state.data(ctx.account)
        billing = params.get("billing_details") if isinstance(params, dict) else None
        billing = billing if isinstance(billing, dict) else {}
        pm: Obj = {
            "id": new_id("pm_"),
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": billing.get("address"),
                "email": billing.get("email"),
                "name": billing.get("name"),
                "phone": billing.get("phone"),
            },
            "card": {
                "brand": card.brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": None,
                    "cvc_check": "pass",
                },
                "country": card.country,
                "exp_month": 12,
                "exp_year": time.gmtime().tm_year + CARD_LIFETIME_YEARS,
                "fingerprint": new_id("", 16),
                "funding": "credit",
                "last4": card.last4,
                "three_d_secure_usage": {"supported": True},
            },
            "created": now(),
            "customer": None,
            "livemode": False,
            "metadata": merge_metadata({}, params.get("metadata")),
            "type": "card",
        }
        data.objects[pm["id"]] = pm
        data.cards[pm["id"]] = card
        return pm

    def card_of(self, ctx: Ctx, pm_id: str) -> cards.TestCard:
        """The test card behind a payment method of the account."""
        return self.state.data(ctx.account).cards[pm_id]

    def resolve_payment_method(self, ctx: Ctx, reference: str, param: str) -> Obj:
        """An existing payment method of the account, or a new one from a test id/token."""
        existing = self.state.data(ctx.account).objects.get(reference)
        if existing is not None and existing.get("object") == "payment_method":
            return existing
        card = cards.lookup(reference)
        if card is None:
            raise no_such("PaymentMethod", reference, param=param, status=400)
        return self._new_payment_method(ctx, card, {})

    def create_payment_method(self, ctx: Ctx, params: Obj) -> Obj:
        if params.get("type") != "card":
            raise param_error(
                "This test server creates payment methods of type `card` only.", "type"
            )
        card_params = params.get("card")
        if not isinstance(card_params, dict):
            raise param_error("Missing required param: card.", "card", code="parameter_missing")
        reference = card_params.get("token") or card_params.get("number")
        card = cards.lookup(str(reference or ""))
        if card is None:
            raise ApiError(
                402,
                "card_error",
                "Your card number is incorrect.",
                code="incorrect_number",
                param="card[number]",
            )
        return self._new_payment_method(ctx, card, params)

    def retrieve_payment_method(self, ctx: Ctx, pm_id: str) -> Obj:
        if cards.lookup(pm_id) is not None and pm_id.startswith("pm_card_"):
            return self.resolve_payment_method(ctx, pm_id, "id")
        return self.state.get_object(ctx, pm_id, "payment_method", "PaymentMethod")

    def attach_payment_method(self, ctx: Ctx, pm_id: str, params: Obj, param: str = "id") -> Obj:
        pm = self.resolve_payment_method(ctx, pm_id, param)
        customer_id = str(params.get("customer") or "")
        self.state.get_object(ctx, customer_id, "customer", "customer", "customer")
        if pm["customer"] and pm["customer"] != customer_id:
            raise invalid_request(
                "The payment method you provided has already been attached to a customer.",
                param=param,
                code="payment_method_unexpected_state",
            )
        card = self.card_of(ctx, pm["id"])
        if card.attach_fails:
            raise ApiError(
                402,
                "card_error",
                card.message or cards.DECLINED,
                code=card.code,
                param="",
                extra={"decline_code": card.decline_code},
            )
        pm["customer"] = customer_id
        return pm

    def detach_payment_method(self, ctx: Ctx, pm_id: str) -> Obj:
        pm = self.state.get_object(ctx, pm_id, "payment_method", "PaymentMethod")
        if not pm["customer"]:
            raise invalid_request(
                "The payment method you provided is not attached to a customer so detachment "
                "is impossible.",
                code="payment_method_unexpected_state",
            )
        pm["customer"] = None
        return pm

    def list_payment_methods(self, ctx: Ctx, params: Obj, customer_id: str | None = None) -> Obj:
        customer_id = customer_id or params.get("customer")
        if customer_id:
            self.state.get_object(ctx, str(customer_id), "customer", "customer", "customer")
        items = [
            pm
            for pm in self.state.data(ctx.account).of_type("payment_method")
            if customer_id is None or pm["customer"] == customer_id
        ]
        url = (
            f"/v1/customers/{customer_id}/payment_methods" if customer_id else "/v1/payment_methods"
        )
        return self.state.list_page(items, params, url)
