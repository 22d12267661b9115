"""Tax transactions (Stripe Tax's `/v1/tax/transactions`): the record of a calculation that
became a sale (`create_from_calculation`), and its reversals, in full or in part
(`create_reversal`, with negative amounts). References are unique across an account's
transactions, reversals included; a partial reversal never takes back more than is left."""

from __future__ import annotations

import copy
from typing import Any

from stripe_test_server.errors import invalid_request, param_error
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import Obj, merge_metadata, new_id, now, to_int

REFERENCE_LENGTH_MAX = 500


class TaxTransactions:
    def __init__(self, state: State) -> None:
        self.state = state

    def _reference(self, ctx: Ctx, params: Obj) -> str:
        reference = params.get("reference")
        if not reference:
            raise param_error(
                "Missing required param: reference.", "reference", code="parameter_missing"
            )
        reference = str(reference)
        if len(reference) > REFERENCE_LENGTH_MAX:
            raise param_error("The reference is too long.", "reference")
        taken = self.state.data(ctx.account).of_type("tax.transaction")
        if any(t["reference"] == reference for t in taken):
            raise invalid_request(
                f"A transaction with reference '{reference}' already exists.",
                param="reference",
            )
        return reference

    def _transaction(
        self, ctx: Ctx, params: Obj, source: Obj, kind: str, lines: list[Obj], reversal: Any
    ) -> Obj:
        transaction_id = new_id("tax_")
        stamp = now()
        transaction: Obj = {
            "id": transaction_id,
            "object": "tax.transaction",
            "created": stamp,
            "currency": source["currency"],
            "customer": source.get("customer"),
            "customer_details": copy.deepcopy(source["customer_details"]),
            "livemode": False,
            "metadata": merge_metadata({}, params.get("metadata")),
            "posted_at": to_int(params.get("posted_at", stamp), "posted_at"),
            "reference": self._reference(ctx, params),
            "reversal": reversal,
            "ship_from_details": None,
            "shipping_cost": None,
            "tax_date": source.get("tax_date", stamp),
            "type": kind,
            "line_items": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "url": f"/v1/tax/transactions/{transaction_id}/line_items",
            },
        }
        self.state.data(ctx.account).objects[transaction_id] = transaction
        return self._shown(transaction, params)

    @staticmethod
    def _shown(transaction: Obj, params: Obj) -> Obj:
        """The transaction as answered: `line_items` only when expanded (Stripe's includable)."""
        shown = copy.deepcopy(transaction)
        if "line_items" not in (params.get("expand") or []):
            shown["line_items"] = None
        return shown

    def create_from_calculation(self, ctx: Ctx, params: Obj) -> Obj:
        calculation_id = str(params.get("calculation") or "")
        if not calculation_id:
            raise param_error(
                "Missing required param: calculation.", "calculation", code="parameter_missing"
            )
        calculation = self.state.get_object(
            ctx, calculation_id, "tax.calculation", "tax calculation", "calculation"
        )
        if calculation["expires_at"] < now():
            raise invalid_request(
                f"Tax calculation {calculation_id} has expired.", param="calculation"
            )
        lines = [
            {
                "id": new_id("tax_li_"),
                "object": "tax.transaction_line_item",
                "amount": item["amount"],
                "amount_tax": item["amount_tax"],
                "livemode": False,
                "metadata": {},
                "product": item.get("product"),
                "quantity": item["quantity"],
                "reference": item["reference"],
                "reversal": None,
                "tax_behavior": item["tax_behavior"],
                "tax_code": item["tax_code"],
                "type": "transaction",
            }
            for item in calculation["line_items"]["data"]
        ]
        return self._transaction(ctx, params, calculation, "transaction", lines, None)

    def create_reversal(self, ctx: Ctx, params: Obj) -> Obj:
        original_id = str(params.get("original_transaction") or "")
        original = self.state.get_object(
            ctx, original_id, "tax.transaction", "tax transaction", "original_transaction"
        )
        if original["type"] != "transaction":
            raise invalid_request("A reversal cannot be reversed.", param="original_transaction")
        mode = params.get("mode")
        if mode not in ("full", "partial"):
            raise param_error("Invalid mode: must be one of full or partial", "mode")
        left = self._left(ctx, original)
        if mode == "full":
            taken = {line_id: (-amount, -tax) for line_id, (amount, tax) in left.items()}
        elif params.get("flat_amount") is not None:
            taken = _flat(original, left, to_int(params["flat_amount"], "flat_amount"))
        else:
            taken = _by_line(params.get("line_items"), left)
        if all(amount == 0 and tax == 0 for amount, tax in taken.values()):
            raise invalid_request(
                f"Transaction {original_id} has nothing left to reverse.",
                param="original_transaction",
            )
        lines = []
        for item in original["line_items"]["data"]:
            amount, tax = taken.get(item["id"], (0, 0))
            if amount == 0 and tax == 0:
                continue
            lines.append(
                {
                    **copy.deepcopy(item),
                    "id": new_id("tax_li_"),
                    "amount": amount,
                    "amount_tax": tax,
                    "reference": f"{item['reference']}-reversal",
                    "reversal": {"original_line_item": item["id"]},
                    "type": "reversal",
                }
            )
        reversal = {"original_transaction": original_id}
        return self._transaction(ctx, params, original, "reversal", lines, reversal)

    def _left(self, ctx: Ctx, original: Obj) -> dict[str, tuple[int, int]]:
        """(amount, tax) of each line of the original not reversed yet."""
        left = {i["id"]: (i["amount"], i["amount_tax"]) for i in original["line_items"]["data"]}
        for other in self.state.data(ctx.account).of_type("tax.transaction"):
            if (other.get("reversal") or {}).get("original_transaction") != original["id"]:
                continue
            for item in other["line_items"]["data"]:
                line_id = item["reversal"]["original_line_item"]
                amount, tax = left[line_id]
                left[line_id] = (amount + item["amount"], tax + item["amount_tax"])
        return left

    def retrieve(self, ctx: Ctx, transaction_id: str, params: Obj) -> Obj:
        transaction = self.state.get_object(
            ctx, transaction_id, "tax.transaction", "tax transaction"
        )
        return self._shown(transaction, params)

    def list_line_items(self, ctx: Ctx, transaction_id: str, params: Obj) -> Obj:
        transaction = self.state.get_object(
            ctx, transaction_id, "tax.transaction", "tax transaction"
        )
        items = transaction["line_items"]["data"]
        page = self.state.list_page(items, params, transaction["line_items"]["url"])
        return page


def _total(amount: int, tax: int, behavior: str) -> int:
    """What a line costs the customer: the tax on top unless it is inside."""
    return amount if behavior == "inclusive" else amount + tax


def _flat(original: Obj, left: dict[str, tuple[int, int]], flat_amount: int) -> Obj:
    """A flat amount (negative, tax included) spread over the lines in proportion to what is
    left of each, the last line taking the rounding."""
    if flat_amount >= 0:
        raise param_error("flat_amount must be negative.", "flat_amount")
    items = original["line_items"]["data"]
    totals = {i["id"]: _total(*left[i["id"]], i["tax_behavior"]) for i in items}
    remaining = sum(totals.values())
    if -flat_amount > remaining:
        raise invalid_request(
            f"flat_amount ({flat_amount}) exceeds what is left to reverse ({remaining}).",
            param="flat_amount",
        )
    taken: Obj = {}
    spread = 0
    for index, item in enumerate(items):
        line_id = item["id"]
        if index == len(items) - 1:
            share = -flat_amount - spread
        else:
            share = -flat_amount * totals[line_id] // remaining if remaining else 0
        spread += share
        tax = left[line_id][1]
        total = totals[line_id]
        tax_share = tax * share // total if total else 0
        amount_share = share if item["tax_behavior"] == "inclusive" else share - tax_share
        taken[line_id] = (-amount_share, -tax_share)
    return taken


def _by_line(raw: Any, left: dict[str, tuple[int, int]]) -> Obj:
    if not isinstance(raw, list) or not raw:
        raise param_error("A partial reversal needs line_items or flat_amount.", "line_items")
    taken: Obj = {}
    for index, line in enumerate(raw):
        param = f"line_items[{index}]"
        line_id = str(line.get("original_line_item") or "")
        if line_id not in left:
            raise param_error("No such line item.", f"{param}[original_line_item]")
        amount = to_int(line.get("amount"), f"{param}[amount]")
        tax = to_int(line.get("amount_tax"), f"{param}[amount_tax]")
        if amount > 0 or tax > 0 or -amount > left[line_id][0] or -tax > left[line_id][1]:
            raise invalid_request(
                "Reversal amounts are negative and at most what is left.", param=param
            )
        taken[line_id] = (amount, tax)
    return taken
