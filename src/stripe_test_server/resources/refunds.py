"""Refunds of a succeeded charge (named directly or through its PaymentIntent), in full or in
part, never beyond what is left unrefunded."""

from __future__ import annotations

import copy

from stripe_test_server.errors import invalid_request, param_error
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import Obj, format_amount, merge_metadata, new_id, now, to_int

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _refund_amount(params: Obj, charge: Obj) -> int:
    """The amount asked for (all that is left by default), within what is left."""
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.",
            code="charge_already_refunded",
        )
    amount = to_int(params.get("amount", remaining), "amount")
    if amount < 1:
        raise param_error(
            "This value must be greater than or equal to 1.",
            "amount",
            code="parameter_invalid_integer",
        )
    if amount > remaining:
        raise invalid_request(
            f"Refund amount ({format_amount(amount, charge['currency'])}) is greater than "
            f"unrefunded amount on charge ({format_amount(remaining, charge['currency'])})",
            param="amount",
            code="amount_too_large",
        )
    return amount


class Refunds:
    def __init__(self, state: State) -> None:
        self.state = state

    def _refunded_charge(self, ctx: Ctx, params: Obj) -> Obj:
        """The charge to refund: `charge`, or the latest charge of `payment_intent`."""
        if params.get("charge"):
            charge = self.state.get_object(ctx, str(params["charge"]), "charge", "charge", "charge")
        elif params.get("payment_intent"):
            pi = self.state.get_object(
                ctx,
                str(params["payment_intent"]),
                "payment_intent",
                "payment_intent",
                "payment_intent",
            )
            if pi["status"] != "succeeded" or not pi["latest_charge"]:
                raise invalid_request(
                    f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                    param="payment_intent",
                )
            charge = self.state.data(ctx.account).objects[pi["latest_charge"]]
        else:
            raise param_error(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                "payment_intent",
                code="parameter_missing",
            )
        if charge["status"] != "succeeded":
            raise invalid_request(
                f"Charge {charge['id']} has not succeeded and cannot be refunded.",
                param="charge",
            )
        return charge

    def create_refund(self, ctx: Ctx, params: Obj) -> Obj:
        charge = self._refunded_charge(ctx, params)
        amount = _refund_amount(params, charge)
        reason = params.get("reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise param_error(
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                "reason",
            )
        refund: Obj = {
            "id": new_id("re_"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": new_id("txn_"),
            "charge": charge["id"],
            "created": now(),
            "currency": charge["currency"],
            "metadata": merge_metadata({}, params.get("metadata")),
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "status": "succeeded",
        }
        self.state.data(ctx.account).objects[refund["id"]] = refund
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
        self.state.emit(ctx, ctx.account, "refund.created", refund)
        self.state.emit(ctx, ctx.account, "charge.refunded", charge, previous)
        return refund

    def retrieve_refund(self, ctx: Ctx, refund_id: str) -> Obj:
        return self.state.get_object(ctx, refund_id, "refund", "refund")

    def list_refunds(self, ctx: Ctx, params: Obj) -> Obj:
        items = self.state.data(ctx.account).of_type("refund")
        for key in ("payment_intent", "charge"):
            if params.get(key):
                items = [r for r in items if r[key] == params[key]]
        return self.state.list_page(items, params, "/v1/refunds")
