"""Tax settings: the head office and the default tax code and behavior, and the `active` /
`pending` status they give (Stripe Tax calculates only once the settings are active)."""

from __future__ import annotations

import copy

from stripe_test_server.errors import invalid_request, param_error
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import ADDRESS_FIELDS, Obj

TAX_BEHAVIORS = ("exclusive", "inclusive", "inferred_by_currency")


def empty_tax_settings() -> Obj:
    settings: Obj = {
        "object": "tax.settings",
        "defaults": {"provider": "stripe", "tax_behavior": None, "tax_code": None},
        "head_office": None,
        "livemode": False,
    }
    refresh_tax_status(settings)
    return settings


def missing_tax_fields(settings: Obj) -> list[str]:
    missing: list[str] = []
    head = settings.get("head_office")
    if not head or not (head.get("address") or {}).get("country"):
        missing.append("head_office")
    if not settings["defaults"].get("tax_code"):
        missing.append("defaults.tax_code")
    if not settings["defaults"].get("tax_behavior"):
        missing.append("defaults.tax_behavior")
    return missing


def refresh_tax_status(settings: Obj) -> None:
    """`active` once the head office address (country), defaults.tax_code and
    defaults.tax_behavior are set; `pending` listing what is missing otherwise."""
    missing = missing_tax_fields(settings)
    if missing:
        settings["status"] = "pending"
        settings["status_details"] = {"pending": {"missing_fields": missing}}
    else:
        settings["status"] = "active"
        settings["status_details"] = {"active": {}}


def require_tax_active(settings: Obj) -> None:
    """Stripe Tax calculates only for an account whose tax settings are active."""
    if settings["status"] != "active":
        raise invalid_request(
            "Stripe Tax has not been activated on your account. Please visit "
            "https://stripe.com/docs/tax/set-up to get started.",
            code="stripe_tax_inactive",
        )


def _apply_defaults(settings: Obj, defaults: Obj) -> None:
    for key in ("tax_behavior", "tax_code"):
        if key not in defaults:
            continue
        value = defaults[key]
        if value == "":
            if settings["defaults"][key] is not None:
                raise param_error(
                    f"You cannot unset defaults[{key}] once it has been set.",
                    f"defaults[{key}]",
                )
            continue
        if key == "tax_behavior" and value not in TAX_BEHAVIORS:
            raise param_error(
                "Invalid defaults[tax_behavior]: must be one of exclusive, inclusive, "
                "or inferred_by_currency",
                "defaults[tax_behavior]",
            )
        if key == "tax_code" and not str(value).startswith("txcd_"):
            raise param_error(
                f"Invalid tax code: {value}. Tax codes look like txcd_10000000.",
                "defaults[tax_code]",
            )
        settings["defaults"][key] = value


def _head_office(head: Obj) -> Obj:
    address = head.get("address")
    if not isinstance(address, dict):
        raise param_error(
            "Missing required param: head_office[address].",
            "head_office[address]",
            code="parameter_missing",
        )
    country = address.get("country")
    if country is not None and (len(str(country)) != 2 or not str(country).isalpha()):
        raise param_error(f"Invalid country: {country}", "head_office[address][country]")
    return {
        "address": {
            key: (str(address[key]).upper() if key == "country" else address[key])
            if address.get(key)
            else None
            for key in ADDRESS_FIELDS
        }
    }


class TaxSettings:
    def __init__(self, state: State) -> None:
        self.state = state

    def retrieve_tax_settings(self, ctx: Ctx) -> Obj:
        return self.state.data(ctx.account).tax_settings

    def update_tax_settings(self, ctx: Ctx, params: Obj) -> Obj:
        settings = self.state.data(ctx.account).tax_settings
        before = copy.deepcopy(settings)
        defaults = params.get("defaults")
        if isinstance(defaults, dict):
            _apply_defaults(settings, defaults)
        head = params.get("head_office")
        if isinstance(head, dict):
            settings["head_office"] = _head_office(head)
        refresh_tax_status(settings)
        if settings != before:
            previous = {
                key: before[key]
                for key in ("defaults", "head_office", "status", "status_details")
                if before[key] != settings[key]
            }
            self.state.emit(ctx, ctx.account, "tax.settings.updated", settings, previous)
        return settings
