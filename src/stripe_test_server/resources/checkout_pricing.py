"""The prices of a Checkout Session: its line items (`price_data` only), and their amounts,
taxed by Stripe Tax at the customer's location when the session has automatic tax."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stripe_test_server import tax
from stripe_test_server.errors import no_such, param_error
from stripe_test_server.resources.tax_registrations import TaxRegistrations
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import Obj, new_id, parse_currency, to_int


def _quantity(raw: Obj, path: str) -> int:
    if "quantity" not in raw:
        raise param_error(
            f"Quantity is required. Add `quantity` to `{path}`",
            f"{path}[quantity]",
            code="parameter_missing",
        )
    quantity = to_int(raw["quantity"], f"{path}[quantity]")
    if quantity < 1:
        raise param_error(
            "This value must be greater than or equal to 1.",
            f"{path}[quantity]",
            code="parameter_invalid_integer",
        )
    return quantity


def _unit_amount(price_data: Obj, path: str) -> int:
    if "unit_amount" in price_data:
        unit_amount = to_int(price_data["unit_amount"], f"{path}[price_data][unit_amount]")
    elif "unit_amount_decimal" in price_data:
        unit_amount = int(Decimal(str(price_data["unit_amount_decimal"])))
    else:
        raise param_error(
            f"Missing required param: {path}[price_data][unit_amount].",
            f"{path}[price_data][unit_amount]",
            code="parameter_missing",
        )
    if unit_amount < 0:
        raise param_error(
            "This value must be greater than or equal to 0.",
            f"{path}[price_data][unit_amount]",
            code="parameter_invalid_integer",
        )
    return unit_amount


def _product(price_data: Obj, path: str) -> Obj:
    """The product: an existing id (`product`), or a new one (`product_data[name]`)."""
    product_data = price_data.get("product_data")
    if price_data.get("product"):
        return {"id": str(price_data["product"]), "name": str(price_data["product"])}
    if isinstance(product_data, dict) and product_data.get("name"):
        return {"id": new_id("prod_", 14), "name": str(product_data["name"])}
    raise param_error(
        f"Missing required param: {path}[price_data][product_data][name].",
        f"{path}[price_data][product_data][name]",
        code="parameter_missing",
    )


def line_item(raw: Any, index: int) -> Obj:
    """A session line item from `line_items[index]`; `_tax_code` stays private to pricing."""
    path = f"line_items[{index}]"
    if not isinstance(raw, dict):
        raise param_error("Invalid hash", path)
    if raw.get("price"):
        raise no_such("price", str(raw["price"]), param=f"{path}[price]", status=400)
    price_data = raw.get("price_data")
    if not isinstance(price_data, dict):
        raise param_error(
            f"You must specify either `price` or `price_data` in {path}.",
            f"{path}[price_data]",
            code="parameter_missing",
        )
    quantity = _quantity(raw, path)
    currency = parse_currency(price_data.get("currency"), f"{path}[price_data][currency]")
    unit_amount = _unit_amount(price_data, path)
    product = _product(price_data, path)
    product_data = price_data.get("product_data")
    tax_code = product_data.get("tax_code") if isinstance(product_data, dict) else None
    behavior = price_data.get("tax_behavior") or "unspecified"
    if behavior not in ("exclusive", "inclusive", "unspecified"):
        raise param_error(
            "Invalid tax_behavior: must be one of exclusive, inclusive, or unspecified",
            f"{path}[price_data][tax_behavior]",
        )
    return {
        "id": new_id("li_"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": 0,
        "amount_tax": 0,
        "amount_total": 0,
        "currency": currency,
        "description": product["name"],
        "price": {
            "id": new_id("price_"),
            "object": "price",
            "active": False,
            "currency": currency,
            "product": product["id"],
            "tax_behavior": behavior,
            "type": "one_time",
            "unit_amount": unit_amount,
        },
        "quantity": quantity,
        "taxes": [],
        "_tax_code": tax_code,
    }


def _tax_entry(line: tax.LineTax, location: tax.Location, gross: int) -> Obj:
    """A line item's `taxes[]` entry: the amount, and the rate applied at location."""
    return {
        "amount": line.amount_tax,
        "rate": {
            "id": "txr_" + location.country + str(line.percentage).replace(".", "_"),
            "object": "tax_rate",
            "country": location.country,
            "display_name": "Sales Tax" if location.country == "US" else "VAT",
            "inclusive": line.inclusive,
            "jurisdiction": location.state or location.country,
            "percentage": float(line.percentage),
            "state": location.state,
            "tax_type": tax.tax_type(location.country),
        },
        "taxability_reason": line.taxability_reason,
        "taxable_amount": gross - line.amount_tax if line.inclusive else gross,
    }


def _price_taxed_item(
    item: Obj, settings: Obj, location: tax.Location | None, percentage: Decimal
) -> None:
    price = item["price"]
    gross = price["unit_amount"] * item["quantity"]
    behavior = tax.resolve_behavior(
        price["tax_behavior"]
        if price["tax_behavior"] != "unspecified"
        else settings["defaults"]["tax_behavior"],
        price["currency"],
    )
    code = item["_tax_code"] or settings["defaults"]["tax_code"]
    line = tax.line_tax(gross, percentage if location else Decimal(0), behavior, code)
    item["amount_subtotal"] = line.amount_subtotal
    item["amount_tax"] = line.amount_tax
    item["amount_total"] = line.amount_total
    item["taxes"] = [_tax_entry(line, location, gross)] if location else []


class CheckoutPricing:
    def __init__(self, state: State, registrations: TaxRegistrations) -> None:
        self.state = state
        self.registrations = registrations

    def tax_location(self, ctx: Ctx, session: Obj) -> tax.Location | None:
        """Where the session's customer is taxed: the address given on the page, else the
        customer's address, else the server's default tax country (if any)."""
        details = session.get("customer_details") or {}
        address = details.get("address") or {}
        if address.get("country"):
            return tax.Location(address["country"], address.get("state"))
        if session.get("customer"):
            customer = self.state.data(ctx.account).objects.get(session["customer"]) or {}
            address = customer.get("address") or {}
            if address.get("country"):
                return tax.Location(address["country"], address.get("state"))
        if self.state.default_tax_country:
            return tax.Location(self.state.default_tax_country, None)
        return None

    def price_session(self, ctx: Ctx, session: Obj) -> None:
        """(Re)computes line item and session amounts, with tax when automatic tax is on."""
        data = self.state.data(ctx.account)
        items = data.session_items[session["id"]]
        automatic = session["automatic_tax"]["enabled"]
        location = self.tax_location(ctx, session) if automatic else None
        registrations = self.registrations.registrations(ctx.account)
        percentage = tax.rate_for(location, registrations) if automatic else Decimal(0)
        subtotal = total = tax_total = 0
        for item in items:
            if automatic:
                _price_taxed_item(item, data.tax_settings, location, percentage)
            else:
                gross = item["price"]["unit_amount"] * item["quantity"]
                item["amount_subtotal"] = item["amount_total"] = gross
                item["amount_tax"] = 0
                item["taxes"] = []
            subtotal += item["amount_subtotal"]
            total += item["amount_total"]
            tax_total += item["amount_tax"]
        session["amount_subtotal"] = subtotal
        session["amount_total"] = total
        session["total_details"] = {
            "amount_discount": 0,
            "amount_shipping": 0,
            "amount_tax": tax_total,
        }
        if automatic:
            session["automatic_tax"]["status"] = (
                "complete" if location else "requires_location_inputs"
            )
