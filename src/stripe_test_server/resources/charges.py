"""Charges, and what confirming a PaymentIntent does with its test card: a charge that
succeeds, a declined charge (answered as a `card_error`), or a 3-D Secure challenge first."""

from __future__ import annotations

import copy
from typing import Any

from stripe_test_server import cards
from stripe_test_server.errors import ApiError
from stripe_test_server.resources.payment_methods import PaymentMethods
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import Obj, new_id, now


def _outcome(paid: bool, card: cards.TestCard) -> Obj:
    return {
        "network_status": "approved_by_network" if paid else "declined_by_network",
        "reason": None if paid else card.decline_code,
        "risk_level": "normal",
        "seller_message": "Payment complete." if paid else "The bank declined the payment.",
        "type": "authorized" if paid else "issuer_declined",
    }


class Charges:
    def __init__(self, state: State, payment_methods: PaymentMethods) -> None:
        self.state = state
        self.payment_methods = payment_methods

    def retrieve_charge(self, ctx: Ctx, charge_id: str) -> Obj:
        return self.state.get_object(ctx, charge_id, "charge", "charge")

    def _charge(self, ctx: Ctx, pi: Obj, card: cards.TestCard, paid: bool) -> Obj:
        charge: Obj = {
            "id": new_id("ch_"),
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": pi["amount"] if paid else 0,
            "amount_refunded": 0,
            "application_fee_amount": pi["application_fee_amount"],
            "balance_transaction": new_id("txn_") if paid else None,
            "captured": paid,
            "created": now(),
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": pi["description"],
            "failure_code": None if paid else card.code,
            "failure_message": None if paid else card.message,
            "livemode": False,
            "metadata": dict(pi["metadata"]),
            "outcome": _outcome(paid, card),
            "paid": paid,
            "payment_intent": pi["id"],
            "payment_method": pi["payment_method"],
            "payment_method_details": {
                "card": {"brand": card.brand, "country": card.country, "last4": card.last4},
                "type": "card",
            },
            "receipt_email": pi["receipt_email"],
            "receipt_url": f"{self.state.base_url}/_test/receipts/{pi['id']}",
            "refunded": False,
            "refunds": {"object": "list", "data": [], "has_more": False, "url": "/v1/refunds"},
            "status": "succeeded" if paid else "failed",
        }
        self.state.data(ctx.account).objects[charge["id"]] = charge
        pi["latest_charge"] = charge["id"]
        return charge

    def succeed(self, ctx: Ctx, pi: Obj, card: cards.TestCard) -> None:
        charge = self._charge(ctx, pi, card, True)
        if pi.get("setup_future_usage") and pi.get("customer"):
            # Stripe: the PaymentMethod is attached to the customer for later (off-session) use.
            pm = self.state.data(ctx.account).objects[pi["payment_method"]]
            if not pm.get("customer"):
                self.payment_methods.attach_payment_method(
                    ctx, pm["id"], {"customer": pi["customer"]}
                )
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        pi["next_action"] = None
        pi["last_payment_error"] = None
        self.state.emit(ctx, ctx.account, "charge.succeeded", charge)
        self.state.emit(ctx, ctx.account, "payment_intent.succeeded", pi)

    def _decline(
        self, ctx: Ctx, pi: Obj, card: cards.TestCard, code: str, decline: str | None, message: str
    ) -> ApiError:
        charge = self._charge(ctx, pi, card, False)
        charge["failure_code"] = code
        charge["failure_message"] = message
        pm = copy.deepcopy(self.state.data(ctx.account).objects[pi["payment_method"]])
        error: Obj = {
            "type": "card_error",
            "code": code,
            "decline_code": decline,
            "doc_url": f"https://stripe.com/docs/error-codes/{code}",
            "message": message,
            "charge": charge["id"],
            "payment_method": pm,
        }
        pi["status"] = "requires_payment_method"
        pi["last_payment_error"] = error
        pi["next_action"] = None
        self.state.emit(ctx, ctx.account, "charge.failed", charge)
        self.state.emit(ctx, ctx.account, "payment_intent.payment_failed", pi)
        return ApiError(
            402,
            "card_error",
            message,
            code=code,
            extra={
                "decline_code": decline,
                "charge": charge["id"],
                "payment_intent": copy.deepcopy(pi),
                "payment_method": pm,
            },
        )

    def settle(self, ctx: Ctx, pi: Obj, off_session: bool, return_url: Any) -> None:
        """Confirming pi with its payment method: the card succeeds, is declined (raises the
        card error), or asks for 3-D Secure (an off-session payment then fails)."""
        card = self.payment_methods.card_of(ctx, pi["payment_method"])
        if card.outcome == "succeed":
            self.succeed(ctx, pi, card)
        elif card.outcome == "decline":
            raise self._decline(
                ctx,
                pi,
                card,
                card.code or "card_declined",
                card.decline_code,
                card.message or cards.DECLINED,
            )
        elif off_session:
            # Stripe: an off-session payment that needs authentication fails with
            # `authentication_required` (the customer must come back on session).
            raise self._decline(
                ctx,
                pi,
                card,
                "authentication_required",
                "authentication_required",
                "Your card was declined. This transaction requires authentication.",
            )
        else:
            self._require_action(ctx, pi, return_url)

    def _require_action(self, ctx: Ctx, pi: Obj, return_url: Any) -> None:
        url = f"{self.state.base_url}/_test/3ds/{pi['id']}"
        pi["status"] = "requires_action"
        if return_url:
            pi["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {"return_url": return_url, "url": url},
            }
        else:
            pi["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": url},
            }
        self.state.emit(ctx, ctx.account, "payment_intent.requires_action", pi)
