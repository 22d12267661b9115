"""Tax registrations: where the account collects tax (a country, and a state in the US), from
`active_from` until `expires_at`; their status follows the clock."""

from __future__ import annotations

import copy

from stripe_test_server.errors import param_error
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import Obj, new_id, now, timestamp


def _registration_out(registration: Obj) -> Obj:
    """The registration with its status as of now (`scheduled`, `active`, `expired`)."""
    t = now()
    if registration["expires_at"] is not None and registration["expires_at"] <= t:
        registration["status"] = "expired"
    elif registration["active_from"] > t:
        registration["status"] = "scheduled"
    else:
        registration["status"] = "active"
    return registration


def _country_options(country: str, options: object) -> Obj:
    """`country_options`, holding the registration's country only, with its `type` (and a
    state in the US)."""
    key = country.lower()
    if not isinstance(options, dict) or not isinstance(options.get(key), dict):
        raise param_error(
            f"Missing required param: country_options[{key}].",
            f"country_options[{key}]",
            code="parameter_missing",
        )
    if set(options) != {key}:
        raise param_error(
            f"country_options must only contain the registration's country ({key}).",
            "country_options",
        )
    country_options = copy.deepcopy(options)
    if "type" not in country_options[key]:
        raise param_error(
            f"Missing required param: country_options[{key}][type].",
            f"country_options[{key}][type]",
            code="parameter_missing",
        )
    if country == "US" and not country_options[key].get("state"):
        raise param_error(
            "Missing required param: country_options[us][state].",
            "country_options[us][state]",
            code="parameter_missing",
        )
    if country_options[key]["type"] == "standard" and "standard" not in country_options[key]:
        country_options[key]["standard"] = {"place_of_supply_scheme": "standard"}
    return country_options


class TaxRegistrations:
    def __init__(self, state: State) -> None:
        self.state = state

    def create_tax_registration(self, ctx: Ctx, params: Obj) -> Obj:
        country = str(params.get("country") or "").upper()
        if len(country) != 2 or not country.isalpha():
            raise param_error(f"Invalid country: {params.get('country')}", "country")
        country_options = _country_options(country, params.get("country_options"))
        active_from = timestamp(params.get("active_from"), "active_from")
        expires_at = (
            timestamp(params["expires_at"], "expires_at")
            if params.get("expires_at") not in (None, "")
            else None
        )
        registration: Obj = {
            "id": new_id("taxreg_"),
            "object": "tax.registration",
            "active_from": active_from,
            "country": country,
            "country_options": country_options,
            "created": now(),
            "expires_at": expires_at,
            "livemode": False,
            "status": "active",
        }
        self.state.data(ctx.account).objects[registration["id"]] = registration
        return _registration_out(registration)

    def registrations(self, account: str) -> list[Obj]:
        """The account's registrations, each with its status as of now."""
        return [_registration_out(r) for r in self.state.data(account).of_type("tax.registration")]

    def list_tax_registrations(self, ctx: Ctx, params: Obj) -> Obj:
        items = self.registrations(ctx.account)
        status = params.get("status", "all")
        if status != "all":
            items = [r for r in items if r["status"] == status]
        return self.state.list_page(items, params, "/v1/tax/registrations")

    def retrieve_tax_registration(self, ctx: Ctx, reg_id: str) -> Obj:
        return _registration_out(
            self.state.get_object(ctx, reg_id, "tax.registration", "tax registration")
        )

    def update_tax_registration(self, ctx: Ctx, reg_id: str, params: Obj) -> Obj:
        registration = self.state.get_object(ctx, reg_id, "tax.registration", "tax registration")
        if "active_from" in params:
            registration["active_from"] = timestamp(params["active_from"], "active_from")
        if "expires_at" in params:
            registration["expires_at"] = (
                None
                if params["expires_at"] == ""
                else timestamp(params["expires_at"], "expires_at")
            )
        return _registration_out(registration)
