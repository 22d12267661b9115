"""PaymentIntents: creation (with Stripe's checks on amounts, application fees and payment
methods), update, confirmation, cancellation, and the test-only 3-D Secure answer. What a
confirmation does with the card is in `charges`."""

from __future__ import annotations

import copy
from typing import Any

from stripe_test_server.errors import ApiError, invalid_request, no_such, param_error
from stripe_test_server.resources.accounts import require_charges_enabled
from stripe_test_server.resources.charges import Charges
from stripe_test_server.resources.payment_methods import PaymentMethods
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import (
    Obj,
    format_amount,
    merge_metadata,
    minimum_amount,
    new_id,
    now,
    parse_currency,
    to_int,
    truthy,
)

CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")


def unexpected_state(pi: Obj, action: str) -> ApiError:
    return ApiError(
        400,
        "invalid_request_error",
        f"You cannot {action} this PaymentIntent because it has a status of {pi['status']}.",
        code="payment_intent_unexpected_state",
        extra={"payment_intent": copy.deepcopy(pi)},
    )


def check_amount(amount: int, currency: str, param: str = "amount") -> None:
    minimum = minimum_amount(currency)
    if amount < 1:
        raise param_error(
            "This value must be greater than or equal to 1.",
            param,
            code="parameter_invalid_integer",
        )
    if amount < minimum:
        raise invalid_request(
            f"Amount must be at least {format_amount(minimum, currency)}",
            param=param,
            code="amount_too_small",
            saved=False,
        )


def _is_off_session(value: Any) -> bool:
    return truthy(value) or value in ("one_off", "recurring")


def _application_fee(ctx: Ctx, params: Obj, amount: int) -> int | None:
    """`application_fee_amount`: on a connected account's payment only, at most the amount."""
    fee = params.get("application_fee_amount")
    if fee is None:
        return None
    if ctx.platform:
        raise invalid_request(
            "Can only apply an application_fee_amount when the PaymentIntent is "
            "attempting a direct payment (using an OAuth key or Stripe-Account header) "
            "or destination payment (using `transfer_data[destination]`).",
            param="application_fee_amount",
        )
    fee = to_int(fee, "application_fee_amount")
    if fee < 0 or fee > amount:
        raise invalid_request(
            "The application fee must be less than or equal to the amount.",
            param="application_fee_amount",
        )
    return fee


def _new_payment_intent(
    params: Obj,
    amount: int,
    currency: str,
    fee: int | None,
    customer_id: str | None,
    pm_id: str | None,
) -> Obj:
    apm = params.get("automatic_payment_methods")
    pi: Obj = {
        "id": new_id("pi_"),
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "application_fee_amount": fee,
        "automatic_payment_methods": (
            {
                "allow_redirects": apm.get("allow_redirects", "always"),
                "enabled": truthy(apm.get("enabled")),
            }
            if isinstance(apm, dict)
            else None
        ),
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": params.get("capture_method") or "automatic",
        "client_secret": None,
        "confirmation_method": params.get("confirmation_method") or "automatic",
        "created": now(),
        "currency": currency,
        "customer": customer_id,
        "description": params.get("description"),
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata")),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": pm_id,
        "payment_method_types": list(params.get("payment_method_types") or ["card"]),
        "receipt_email": params.get("receipt_email"),
        "setup_future_usage": params.get("setup_future_usage"),
        "statement_descriptor": params.get("statement_descriptor"),
        "status": "requires_confirmation" if pm_id else "requires_payment_method",
    }
    pi["client_secret"] = f"{pi['id']}_secret_{new_id('', 25)}"
    return pi


class PaymentIntents:
    def __init__(self, state: State, payment_methods: PaymentMethods, charges: Charges) -> None:
        self.state = state
        self.payment_methods = payment_methods
        self.charges = charges

    def create_payment_intent(self, ctx: Ctx, params: Obj) -> Obj:
        currency = parse_currency(params.get("currency"))
        amount = to_int(params.get("amount"), "amount")
        check_amount(amount, currency)
        confirm = truthy(params.get("confirm"))
        off_session = params.get("off_session")
        if off_session is not None and not confirm:
            raise param_error(
                "You can only pass in `off_session` when `confirm` is set to true.", "off_session"
            )
        fee = _application_fee(ctx, params, amount)
        customer_id = params.get("customer") or None
        if customer_id:
            self.state.get_object(ctx, customer_id, "customer", "customer", "customer")
        pm_id = self._payment_method_of(ctx, params, customer_id)
        if confirm:
            require_charges_enabled(self.state, ctx)
        pi = _new_payment_intent(params, amount, currency, fee, customer_id, pm_id)
        self.state.data(ctx.account).objects[pi["id"]] = pi
        self.state.payment_intent_accounts[pi["id"]] = ctx.account
        self.state.emit(ctx, ctx.account, "payment_intent.created", pi)
        if confirm:
            self.charges.settle(ctx, pi, _is_off_session(off_session), params.get("return_url"))
        return pi

    def _payment_method_of(self, ctx: Ctx, params: Obj, customer_id: str | None) -> str | None:
        if not params.get("payment_method"):
            return None
        pm = self.payment_methods.resolve_payment_method(
            ctx, str(params["payment_method"]), "payment_method"
        )
        if pm["customer"] and customer_id and pm["customer"] != customer_id:
            raise invalid_request(
                "The provided PaymentMethod belongs to a different Customer.",
                param="payment_method",
            )
        return str(pm["id"])

    def retrieve_payment_intent(self, ctx: Ctx, pi_id: str) -> Obj:
        return self.state.get_object(ctx, pi_id, "payment_intent", "payment_intent")

    def update_payment_intent(self, ctx: Ctx, pi_id: str, params: Obj) -> Obj:
        pi = self.retrieve_payment_intent(ctx, pi_id)
        locked = pi["status"] in ("succeeded", "canceled", "processing")
        if locked and set(params) - {"metadata", "description", "expand"}:
            raise unexpected_state(pi, "update")
        if "metadata" in params:
            pi["metadata"] = merge_metadata(pi["metadata"], params["metadata"])
        for key in ("description", "receipt_email"):
            if key in params:
                pi[key] = params[key] or None
        if "amount" in params:
            amount = to_int(params["amount"], "amount")
            check_amount(amount, pi["currency"])
            pi["amount"] = amount
        if params.get("payment_method"):
            pi["payment_method"] = self.payment_methods.resolve_payment_method(
                ctx, str(params["payment_method"]), "payment_method"
            )["id"]
            pi["status"] = "requires_confirmation"
        return pi

    def confirm_payment_intent(self, ctx: Ctx, pi_id: str, params: Obj) -> Obj:
        pi = self.retrieve_payment_intent(ctx, pi_id)
        if pi["status"] not in CONFIRMABLE:
            raise unexpected_state(pi, "confirm")
        if params.get("payment_method"):
            pm = self.payment_methods.resolve_payment_method(
                ctx, str(params["payment_method"]), "payment_method"
            )
            pi["payment_method"] = pm["id"]
        if not pi["payment_method"]:
            raise invalid_request(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "To confirm the PaymentIntent with a payment method, pass `payment_method`.",
                code="payment_intent_unexpected_state",
            )
        require_charges_enabled(self.state, ctx)
        off_session = _is_off_session(params.get("off_session"))
        self.charges.settle(ctx, pi, off_session, params.get("return_url"))
        return pi

    def cancel_payment_intent(self, ctx: Ctx, pi_id: str, params: Obj) -> Obj:
        pi = self.retrieve_payment_intent(ctx, pi_id)
        if pi["status"] in ("succeeded", "canceled"):
            raise unexpected_state(pi, "cancel")
        pi["status"] = "canceled"
        pi["canceled_at"] = now()
        pi["cancellation_reason"] = params.get("cancellation_reason") or "requested_by_customer"
        pi["next_action"] = None
        self.state.emit(ctx, ctx.account, "payment_intent.canceled", pi)
        return pi

    def list_payment_intents(self, ctx: Ctx, params: Obj) -> Obj:
        items = self.state.data(ctx.account).of_type("payment_intent")
        if params.get("customer"):
            items = [pi for pi in items if pi["customer"] == params["customer"]]
        return self.state.list_page(items, params, "/v1/payment_intents")

    def authenticate(self, pi_id: str, success: bool = True) -> Obj:
        """Test-only: the customer passes (or fails) the 3-D Secure challenge."""
        account = self.state.payment_intent_accounts.get(pi_id)
        if account is None:
            raise no_such("payment_intent", pi_id)
        ctx = self.state.ctx_of(account)
        pi = self.state.data(account).objects[pi_id]
        if pi["status"] != "requires_action":
            raise unexpected_state(pi, "authenticate")
        card = self.payment_methods.card_of(ctx, pi["payment_method"])
        if success:
            self.charges.succeed(ctx, pi, card)
        else:
            pi["status"] = "requires_payment_method"
            pi["next_action"] = None
            pi["last_payment_error"] = {
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": "The provided PaymentMethod has failed authentication.",
            }
            self.state.emit(ctx, account, "payment_intent.payment_failed", pi)
        return pi
