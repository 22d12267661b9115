"""The engine: the resources of `stripe_test_server.resources` wired together over one `State`
(the platform account registered), and `expand[]`, which may reach any of them."""

from __future__ import annotations

import copy
from typing import Any

from stripe_test_server.resources.accounts import Accounts
from stripe_test_server.resources.charges import Charges
from stripe_test_server.resources.checkout_pricing import CheckoutPricing
from stripe_test_server.resources.checkout_sessions import CheckoutSessions
from stripe_test_server.resources.customers import Customers
from stripe_test_server.resources.events import Events
from stripe_test_server.resources.oauth import OAuth
from stripe_test_server.resources.payment_intents import PaymentIntents
from stripe_test_server.resources.payment_methods import PaymentMethods
from stripe_test_server.resources.refunds import Refunds
from stripe_test_server.resources.tax_calculations import TaxCalculations
from stripe_test_server.resources.tax_registrations import TaxRegistrations
from stripe_test_server.resources.tax_settings import TaxSettings
from stripe_test_server.resources.tax_transactions import TaxTransactions
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import Obj


class Engine:
    """Stripe's rules over the state; the caller holds `state.lock` around every call."""

    def __init__(self, state: State, *, platform_country: str = "US") -> None:
        self.state = state
        self.accounts = Accounts(state)
        self.accounts.register_platform(platform_country)
        self.oauth = OAuth(state, self.accounts)
        self.payment_methods = PaymentMethods(state)
        self.customers = Customers(state, self.payment_methods)
        self.charges = Charges(state, self.payment_methods)
        self.payment_intents = PaymentIntents(state, self.payment_methods, self.charges)
        self.refunds = Refunds(state)
        self.tax_settings = TaxSettings(state)
        self.tax_registrations = TaxRegistrations(state)
        self.tax_calculations = TaxCalculations(state, self.tax_registrations)
        self.tax_transactions = TaxTransactions(state)
        self.checkout_pricing = CheckoutPricing(state, self.tax_registrations)
        self.checkout_sessions = CheckoutSessions(
            state, self.checkout_pricing, self.payment_intents, self.charges
        )
        self.events = Events(state)

    # -- expansion -------------------------------------------------------------------------
    def expand(self, ctx: Ctx, obj: Obj, paths: Any) -> Obj:
        """A copy of obj with the ids at the dotted `expand[]` paths replaced by objects."""
        result = copy.deepcopy(obj)
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list):
            return result
        for path in paths:
            if isinstance(path, str):
                self._expand_path(ctx, result, path.split("."))
        return result

    def _expand_path(self, ctx: Ctx, node: Any, parts: list[str]) -> None:
        if not parts or not isinstance(node, dict):
            return
        head, rest = parts[0], parts[1:]
        if head == "data" and node.get("object") == "list" and isinstance(node.get("data"), list):
            for item in node["data"]:
                self._expand_path(ctx, item, rest)
            return
        if head == "line_items" and node.get("object") == "checkout.session":
            node["line_items"] = self.checkout_sessions.session_line_items(
                ctx, node["id"], {"limit": 100}
            )
        value = node.get(head)
        if isinstance(value, str):
            found = self._find_any(ctx, value)
            if found is None:
                return
            node[head] = found
            value = found
        if rest:
            self._expand_path(ctx, value, rest)

    def _find_any(self, ctx: Ctx, object_id: str) -> Obj | None:
        if object_id in self.state.account_objects:
            return copy.deepcopy(self.state.account_objects[object_id])
        obj = self.state.data(ctx.account).objects.get(object_id)
        return copy.deepcopy(obj) if obj is not None else None
