"""Customers: their address, metadata and default payment method (which must be attached to
them)."""

from __future__ import annotations

from stripe_test_server.errors import invalid_request, no_such
from stripe_test_server.resources.payment_methods import PaymentMethods
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import ADDRESS_FIELDS, Obj, merge_metadata, new_id, now


def _apply_address(customer: Obj, params: Obj) -> None:
    address = params.get("address")
    if address == "":
        customer["address"] = None
    elif isinstance(address, dict):
        customer["address"] = {key: address.get(key) for key in ADDRESS_FIELDS}


class Customers:
    def __init__(self, state: State, payment_methods: PaymentMethods) -> None:
        self.state = state
        self.payment_methods = payment_methods

    def create_customer(self, ctx: Ctx, params: Obj) -> Obj:
        data = self.state.data(ctx.account)
        customer: Obj = {
            "id": new_id("cus_", 14),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": params.get("description"),
            "email": params.get("email"),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": merge_metadata({}, params.get("metadata")),
            "name": params.get("name"),
            "phone": params.get("phone"),
            "preferred_locales": list(params.get("preferred_locales") or []),
            "shipping": None,
            "tax_exempt": params.get("tax_exempt") or "none",
        }
        _apply_address(customer, params)
        data.objects[customer["id"]] = customer
        if params.get("payment_method"):
            self.payment_methods.attach_payment_method(
                ctx, str(params["payment_method"]), {"customer": customer["id"]}, "payment_method"
            )
        self._apply_invoice_settings(ctx, customer, params)
        return customer

    def _apply_invoice_settings(self, ctx: Ctx, customer: Obj, params: Obj) -> None:
        settings = params.get("invoice_settings")
        if isinstance(settings, dict) and "default_payment_method" in settings:
            pm_id = settings["default_payment_method"] or None
            if pm_id is not None:
                pm = self.state.get_object(
                    ctx,
                    pm_id,
                    "payment_method",
                    "PaymentMethod",
                    "invoice_settings[default_payment_method]",
                )
                if pm.get("customer") != customer["id"]:
                    raise invalid_request(
                        f"The customer does not have a payment method with the ID {pm_id}. "
                        "The payment method must be attached to the customer.",
                        param="invoice_settings[default_payment_method]",
                        code="resource_missing",
                    )
            customer["invoice_settings"]["default_payment_method"] = pm_id

    def retrieve_customer(self, ctx: Ctx, customer_id: str) -> Obj:
        obj = self.state.data(ctx.account).objects.get(customer_id)
        if obj is None or obj.get("object") != "customer":
            raise no_such("customer", customer_id)
        return obj

    def update_customer(self, ctx: Ctx, customer_id: str, params: Obj) -> Obj:
        customer = self.retrieve_customer(ctx, customer_id)
        for key in ("email", "name", "description", "phone", "tax_exempt"):
            if key in params:
                customer[key] = params[key] or None
        if "metadata" in params:
            customer["metadata"] = merge_metadata(customer["metadata"], params["metadata"])
        _apply_address(customer, params)
        self._apply_invoice_settings(ctx, customer, params)
        return customer

    def delete_customer(self, ctx: Ctx, customer_id: str) -> Obj:
        self.retrieve_customer(ctx, customer_id)
        del self.state.data(ctx.account).objects[customer_id]
        return {"id": customer_id, "object": "customer", "deleted": True}

    def list_customers(self, ctx: Ctx, params: Obj) -> Obj:
        items = self.state.data(ctx.account).of_type("customer")
        if params.get("email"):
            items = [c for c in items if c.get("email") == params["email"]]
        return self.state.list_page(items, params, "/v1/customers")
