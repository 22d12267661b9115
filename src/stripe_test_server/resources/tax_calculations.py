"""Tax calculations (Stripe Tax's `/v1/tax/calculations`): each line taxed at the customer's
location where the account holds a registration, with the rates of `stripe_test_server.tax`."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from stripe_test_server import tax
from stripe_test_server.errors import invalid_request, param_error
from stripe_test_server.resources.tax_registrations import TaxRegistrations
from stripe_test_server.resources.tax_settings import require_tax_active
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import Obj, new_id, now, parse_currency, to_int

CALCULATION_LIFETIME_SECONDS = 90 * 86400


def _line(
    index: int, raw: Any, references: set[str], percentage: Decimal, default_code: Any
) -> tuple[Obj, tax.LineTax]:
    """One calculation line item (its reference unique among references) and its tax."""
    param = f"line_items[{index}]"
    amount = to_int(raw.get("amount"), f"{param}[amount]")
    if amount < 0:
        raise param_error("This value must be greater than or equal to 0.", f"{param}[amount]")
    reference = str(raw.get("reference") or f"li_{index}")
    if reference in references:
        raise param_error("The reference must be unique across line items.", f"{param}[reference]")
    references.add(reference)
    behavior = str(raw.get("tax_behavior") or "exclusive")
    if behavior not in ("exclusive", "inclusive"):
        raise param_error(
            "Invalid tax_behavior: must be one of exclusive or inclusive",
            f"{param}[tax_behavior]",
        )
    code = raw.get("tax_code") or default_code
    line = tax.line_tax(amount, percentage, behavior, code)
    item: Obj = {
        "id": new_id("tax_li_"),
        "object": "tax.calculation_line_item",
        "amount": amount,
        "amount_tax": line.amount_tax,
        "livemode": False,
        "product": None,
        "quantity": int(raw.get("quantity") or 1),
        "reference": reference,
        "tax_behavior": behavior,
        "tax_code": code,
    }
    return item, line


class TaxCalculations:
    def __init__(self, state: State, registrations: TaxRegistrations) -> None:
        self.state = state
        self.registrations = registrations

    def _location(self, ctx: Ctx, params: Obj, details: Obj) -> tax.Location:
        """The customer's address: the customer's own if given, else `customer_details`."""
        address = details.get("address") or {}
        if params.get("customer"):
            customer = self.state.get_object(
                ctx, str(params["customer"]), "customer", "customer", "customer"
            )
            address = customer.get("address") or address
        if not address.get("country"):
            raise invalid_request(
                "The customer's address is required to calculate tax.",
                param="customer_details[address]",
                code="customer_tax_location_invalid",
            )
        return tax.Location(str(address["country"]), address.get("state"))

    def create_tax_calculation(self, ctx: Ctx, params: Obj) -> Obj:
        """Stripe Tax's calculation: each line taxed at the customer's location where the
        account holds a registration; `stripe_tax_inactive` unless the settings are active."""
        settings = self.state.data(ctx.account).tax_settings
        require_tax_active(settings)
        currency = parse_currency(params.get("currency"))
        raw_items = params.get("line_items")
        if not isinstance(raw_items, list) or not raw_items:
            raise param_error(
                "Missing required param: line_items.", "line_items", code="parameter_missing"
            )
        details = params.get("customer_details") or {}
        location = self._location(ctx, params, details)
        percentage = tax.rate_for(location, self.registrations.registrations(ctx.account))
        default_code = settings["defaults"]["tax_code"]
        references: set[str] = set()
        lines: list[Obj] = []
        exclusive = inclusive = total = 0
        for index, raw in enumerate(raw_items):
            item, line = _line(index, raw, references, percentage, default_code)
            if line.inclusive:
                inclusive += line.amount_tax
            else:
                exclusive += line.amount_tax
            total += line.amount_total
            lines.append(item)
        calculation: Obj = {
            "id": new_id("taxcalc_"),
            "object": "tax.calculation",
            "amount_total": total,
            "currency": currency,
            "customer": params.get("customer"),
            "customer_details": {
                "address": {"country": location.country, "state": location.state},
                "address_source": details.get("address_source") or "billing",
                "ip_address": None,
                "tax_ids": [],
                "taxability_override": "none",
            },
            "expires_at": now() + CALCULATION_LIFETIME_SECONDS,
            "livemode": False,
            "tax_amount_exclusive": exclusive,
            "tax_amount_inclusive": inclusive,
            "tax_date": now(),
        }
        listed: Obj = {
            "object": "list",
            "data": lines,
            "has_more": False,
            "url": f"/v1/tax/calculations/{calculation['id']}/line_items",
        }
        # Kept whole, for a transaction made from it (`tax_transactions`).
        self.state.data(ctx.account).objects[calculation["id"]] = {
            **calculation,
            "line_items": copy.deepcopy(listed),
        }
        expanded = "line_items" in (params.get("expand") or [])
        calculation["line_items"] = listed if expanded else None
        return calculation
