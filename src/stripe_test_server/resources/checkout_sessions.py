"""Checkout Sessions (`mode=payment`): creation, listing, expiry, and the test-only payment on
the hosted page, which makes the session's PaymentIntent and completes the session."""

from __future__ import annotations

import copy
from typing import Any

from stripe_test_server.errors import ApiError, invalid_request, no_such, param_error
from stripe_test_server.resources.accounts import require_charges_enabled
from stripe_test_server.resources.charges import Charges
from stripe_test_server.resources.checkout_pricing import CheckoutPricing, line_item
from stripe_test_server.resources.payment_intents import PaymentIntents
from stripe_test_server.resources.tax_settings import require_tax_active
from stripe_test_server.state import AccountData, Ctx, State
from stripe_test_server.values import (
    Obj,
    format_amount,
    merge_metadata,
    minimum_amount,
    new_id,
    now,
    to_int,
    truthy,
)

SESSION_LIFETIME_SECONDS = 86400


def _mode(params: Obj) -> str:
    mode = params.get("mode")
    if mode is None:
        raise param_error("Missing required param: mode.", "mode", code="parameter_missing")
    if mode != "payment":
        if mode in ("setup", "subscription"):
            raise invalid_request(
                f"This test server supports mode=payment only (got {mode}).", param="mode"
            )
        raise param_error(
            f"Invalid mode: must be one of payment, setup, or subscription ({mode})", "mode"
        )
    return str(mode)


def _session_items(line_items: list[Any]) -> tuple[list[Obj], str]:
    """The session's line items and their one currency."""
    items: list[Obj] = []
    currency: str | None = None
    for index, raw in enumerate(line_items):
        items.append(line_item(raw, index))
        item_currency = items[-1]["currency"]
        if currency is None:
            currency = item_currency
        elif currency != item_currency:
            raise invalid_request(
                "All line items must have the same currency.",
                param=f"line_items[{index}][price_data][currency]",
            )
    assert currency is not None
    return items, currency


def _new_session(
    base_url: str,
    params: Obj,
    mode: str,
    automatic: bool,
    customer_id: str | None,
    currency: str,
) -> Obj:
    created = now()
    session_id = new_id("cs_test_", 58)
    return {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": 0,
        "amount_total": 0,
        "automatic_tax": {
            "enabled": automatic,
            "liability": {"type": "self"} if automatic else None,
            "provider": "stripe" if automatic else None,
            "status": None,
        },
        "billing_address_collection": params.get("billing_address_collection"),
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": None,
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "customer_creation": None
        if customer_id
        else params.get("customer_creation", "if_required"),
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "expires_at": to_int(
            params.get("expires_at", created + SESSION_LIFETIME_SECONDS), "expires_at"
        ),
        "invoice": None,
        "livemode": False,
        "locale": params.get("locale"),
        "metadata": merge_metadata({}, params.get("metadata")),
        "mode": mode,
        "payment_intent": None,
        "payment_method_types": list(params.get("payment_method_types") or ["card"]),
        "payment_status": "unpaid",
        "status": "open",
        "success_url": params.get("success_url"),
        "total_details": None,
        "ui_mode": params.get("ui_mode") or "hosted",
        "url": f"{base_url}/_test/checkout/{session_id}",
    }


def _customer_details(
    session: Obj,
    customer: Obj | None,
    country: str | None,
    state: str | None,
    email: str | None,
    name: str | None,
) -> Obj:
    """What the customer gives on the hosted page (a country replaces the whole address)."""
    address = dict((customer or {}).get("address") or {})
    if country:
        address = {
            "city": None,
            "country": country.upper(),
            "line1": None,
            "line2": None,
            "postal_code": None,
            "state": state,
        }
    return {
        "address": address or None,
        "email": email or (customer or {}).get("email") or session.get("customer_email"),
        "name": name or (customer or {}).get("name"),
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def _payment_intent_params(ctx: Ctx, session: Obj, params: Obj, payment_method: str) -> Obj:
    """The PaymentIntent a completed session makes, from its `payment_intent_data`."""
    intent_data = params.get("payment_intent_data") or {}
    pi_params: Obj = {
        "amount": session["amount_total"],
        "currency": session["currency"],
        "payment_method": payment_method,
        "metadata": intent_data.get("metadata") or {},
        "description": intent_data.get("description"),
        "receipt_email": session["customer_details"]["email"],
    }
    if session["customer"]:
        pi_params["customer"] = session["customer"]
        if intent_data.get("setup_future_usage"):
            pi_params["setup_future_usage"] = intent_data["setup_future_usage"]
    if intent_data.get("application_fee_amount") is not None and not ctx.platform:
        pi_params["application_fee_amount"] = intent_data["application_fee_amount"]
    return {k: v for k, v in pi_params.items() if v is not None}


class CheckoutSessions:
    def __init__(
        self,
        state: State,
        pricing: CheckoutPricing,
        payment_intents: PaymentIntents,
        charges: Charges,
    ) -> None:
        self.state = state
        self.pricing = pricing
        self.payment_intents = payment_intents
        self.charges = charges

    def create_checkout_session(self, ctx: Ctx, params: Obj) -> Obj:
        mode = _mode(params)
        line_items = params.get("line_items")
        if not isinstance(line_items, list) or not line_items:
            raise param_error(
                "You must specify `line_items` in `payment` mode.",
                "line_items",
                code="parameter_missing",
            )
        data = self.state.data(ctx.account)
        require_charges_enabled(self.state, ctx)
        automatic = isinstance(params.get("automatic_tax"), dict) and truthy(
            params["automatic_tax"].get("enabled")
        )
        if automatic:
            require_tax_active(data.tax_settings)
        customer_id = params.get("customer") or None
        if customer_id:
            self.state.get_object(ctx, customer_id, "customer", "customer", "customer")
        items, currency = _session_items(line_items)
        session = _new_session(self.state.base_url, params, mode, automatic, customer_id, currency)
        self._store(ctx, data, session, items, params)
        self.pricing.price_session(ctx, session)
        minimum = minimum_amount(currency)
        if session["amount_total"] and session["amount_total"] < minimum:
            del data.objects[session["id"]]
            del self.state.session_accounts[session["id"]]
            raise invalid_request(
                "The Checkout Session's total amount due must add up to at least "
                f"{format_amount(minimum, currency)}",
                saved=False,
            )
        return session

    def _store(
        self, ctx: Ctx, data: AccountData, session: Obj, items: list[Obj], params: Obj
    ) -> None:
        session_id = session["id"]
        data.objects[session_id] = session
        data.session_items[session_id] = items
        data.session_params[session_id] = copy.deepcopy(params)
        self.state.session_accounts[session_id] = ctx.account

    def retrieve_checkout_session(self, ctx: Ctx, session_id: str) -> Obj:
        session = self.state.get_object(ctx, session_id, "checkout.session", "checkout.session")
        if session["status"] == "open" and session["expires_at"] <= now():
            session["status"] = "expired"
        return session

    def session_line_items(self, ctx: Ctx, session_id: str, params: Obj) -> Obj:
        self.state.get_object(ctx, session_id, "checkout.session", "checkout.session")
        items = [
            {k: v for k, v in item.items() if not k.startswith("_")}
            for item in self.state.data(ctx.account).session_items[session_id]
        ]
        listing = self.state.list_page(
            [dict(item, created=0) for item in items],
            params,
            f"/v1/checkout/sessions/{session_id}/line_items",
        )
        for item in listing["data"]:
            item.pop("created", None)
        listing["data"].sort(key=lambda i: [x["id"] for x in items].index(i["id"]))
        return listing

    def list_checkout_sessions(self, ctx: Ctx, params: Obj) -> Obj:
        items = self.state.data(ctx.account).of_type("checkout.session")
        for key in ("payment_intent", "customer", "status"):
            if params.get(key):
                items = [s for s in items if s[key] == params[key]]
        return self.state.list_page(items, params, "/v1/checkout/sessions")

    def expire_checkout_session(self, ctx: Ctx, session_id: str) -> Obj:
        session = self.retrieve_checkout_session(ctx, session_id)
        if session["status"] != "open":
            raise invalid_request(
                f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f'Checkout Session has a status of "{session["status"]}".',
                param="session",
            )
        session["status"] = "expired"
        self.state.emit(ctx, ctx.account, "checkout.session.expired", session)
        return session

    def complete_checkout(
        self,
        session_id: str,
        *,
        payment_method: str = "pm_card_visa",
        country: str | None = None,
        state: str | None = None,
        email: str | None = None,
        name: str | None = None,
    ) -> Obj:
        """Test-only: the customer pays on the hosted page. Creates the PaymentIntent on the
        session's account, marks the session complete and sends checkout.session.completed.
        A 3-D Secure card passes its challenge; a declined card raises the card error and
        leaves the session open."""
        account = self.state.session_account(session_id)
        if account is None:
            raise no_such("checkout.session", session_id)
        ctx = self.state.ctx_of(account)
        data = self.state.data(account)
        session = self.retrieve_checkout_session(ctx, session_id)
        if session["status"] != "open":
            raise invalid_request(
                f"This Checkout Session is no longer active (status {session['status']})."
            )
        customer = data.objects.get(session["customer"]) if session["customer"] else None
        session["customer_details"] = _customer_details(
            session, customer, country, state, email, name
        )
        self.pricing.price_session(ctx, session)
        if session["automatic_tax"]["enabled"] and not session["customer_details"]["address"]:
            raise invalid_request(
                "A billing address is needed to calculate tax: pass the customer's country.",
                param="country",
            )
        pi_params = _payment_intent_params(
            ctx, session, data.session_params[session_id], payment_method
        )
        pi = self.payment_intents.create_payment_intent(ctx, pi_params)
        try:
            self.charges.settle(ctx, pi, False, session.get("success_url"))
        except ApiError:
            session["customer_details"] = None
            raise
        if pi["status"] == "requires_action":  # the challenge on the hosted page, passed
            self.payment_intents.authenticate(pi["id"], True)
        session["payment_intent"] = pi["id"]
        session["status"] = "complete"
        session["payment_status"] = "paid"
        self.state.emit(ctx, account, "checkout.session.completed", session)
        return session
