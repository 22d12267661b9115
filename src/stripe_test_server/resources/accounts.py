"""Accounts: the platform's own and its connected accounts (Standard, Express, Custom), their
onboarding requirements and capabilities, and the account links that complete onboarding."""

from __future__ import annotations

import copy

from stripe_test_server.errors import invalid_request, no_such, param_error
from stripe_test_server.resources.tax_settings import empty_tax_settings
from stripe_test_server.state import AccountData, Ctx, State
from stripe_test_server.values import Obj, merge_metadata, new_id, now, truthy

CURRENCY_BY_COUNTRY = {
    "US": "usd",
    "GB": "gbp",
    "CA": "cad",
    "AU": "aud",
    "CH": "chf",
    "DK": "dkk",
    "SE": "sek",
    "NO": "nok",
    "PL": "pln",
    "JP": "jpy",
}
ONBOARDING_REQUIREMENTS = [
    "business_profile.url",
    "external_account",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]
ACCOUNT_LINK_LIFETIME_SECONDS = 300


def requirements(onboarded: bool) -> Obj:
    due = [] if onboarded else list(ONBOARDING_REQUIREMENTS)
    return {
        "current_deadline": None,
        "currently_due": due,
        "disabled_reason": None if onboarded else "requirements.past_due",
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


def _capabilities(type_: str, params: Obj, onboarded: bool) -> dict[str, str]:
    capabilities = {
        name: "active" if onboarded else "inactive"
        for name, value in (params.get("capabilities") or {}).items()
        if isinstance(value, dict) and truthy(value.get("requested"))
    }
    if type_ == "standard" and not capabilities:
        capabilities = {
            "card_payments": "active" if onboarded else "inactive",
            "transfers": "active" if onboarded else "inactive",
        }
    return capabilities


def new_account_object(
    account_id: str,
    type_: str,
    country: str,
    email: str | None,
    params: Obj,
    *,
    onboarded: bool,
) -> Obj:
    business_profile = params.get("business_profile") or {}
    return {
        "id": account_id,
        "object": "account",
        "business_profile": {
            "mcc": business_profile.get("mcc"),
            "name": business_profile.get("name"),
            "support_email": business_profile.get("support_email"),
            "url": business_profile.get("url"),
        },
        "business_type": params.get("business_type"),
        "capabilities": _capabilities(type_, params, onboarded),
        "charges_enabled": onboarded,
        "controller": {"type": "application", "is_controller": True},
        "country": country,
        "created": now(),
        "default_currency": params.get("default_currency")
        or CURRENCY_BY_COUNTRY.get(country, "eur"),
        "details_submitted": onboarded,
        "email": email,
        "metadata": merge_metadata({}, params.get("metadata")),
        "payouts_enabled": onboarded,
        "requirements": requirements(onboarded),
        "settings": {"dashboard": {"display_name": business_profile.get("name")}},
        "tos_acceptance": {"date": now() if onboarded else None},
        "type": type_,
    }


def _account_type(params: Obj) -> str:
    """`type`, or the type the `controller` settings describe."""
    type_ = params.get("type")
    controller = params.get("controller")
    if type_ is None and isinstance(controller, dict):
        dashboard = (controller.get("stripe_dashboard") or {}).get("type")
        type_ = {"full": "standard", "express": "express"}.get(str(dashboard), "custom")
    if type_ is None:
        raise param_error("Missing required param: type.", "type", code="parameter_missing")
    if type_ not in ("standard", "express", "custom"):
        raise param_error(
            f"Invalid type: must be one of custom, express, or standard ({type_})", "type"
        )
    return str(type_)


def require_charges_enabled(state: State, ctx: Ctx) -> None:
    """Payments need an account whose onboarding is complete."""
    account = state.account_objects[ctx.account]
    if not account["charges_enabled"]:
        raise invalid_request(
            "Your account cannot currently make charges. To find out why charge creation "
            "is currently disabled, look at the `requirements.disabled_reason` property "
            f"on this account (/v1/accounts/{ctx.account}).",
            code="account_invalid",
        )


class Accounts:
    def __init__(self, state: State) -> None:
        self.state = state

    def register_platform(self, country: str) -> None:
        """The platform's own account: a Standard account, onboarded, controlled by itself."""
        state = self.state
        platform = new_account_object(
            state.platform_id, "standard", country, None, {}, onboarded=True
        )
        platform["controller"] = {"type": "account"}
        state.account_objects[state.platform_id] = platform
        state.accounts[state.platform_id] = AccountData(
            state.platform_id, tax_settings=empty_tax_settings()
        )

    def create_account(self, ctx: Ctx, params: Obj, *, onboarded: bool = False) -> Obj:
        if not ctx.platform:
            raise invalid_request(
                "Connected accounts cannot create other accounts: use the platform's key "
                "without a Stripe-Account header.",
                status=400,
            )
        type_ = _account_type(params)
        country = str(params.get("country") or "US").upper()
        account_id = new_id("acct_1", 15)
        obj = new_account_object(
            account_id, type_, country, params.get("email"), params, onboarded=onboarded
        )
        self.state.account_objects[account_id] = obj
        self.state.accounts[account_id] = AccountData(account_id, tax_settings=empty_tax_settings())
        self.state.connected.add(account_id)
        return obj

    def retrieve_account(self, ctx: Ctx, account_id: str | None) -> Obj:
        target = account_id or ctx.account
        visible = target == ctx.account or (ctx.platform and target in self.state.connected)
        if not visible or target not in self.state.account_objects:
            raise invalid_request(
                f"The provided key does not have access to account '{target}' (or that account "
                "does not exist). Application access may have been revoked.",
                code="account_invalid",
                status=403 if account_id else 404,
            )
        return self.state.account_objects[target]

    def update_account(self, ctx: Ctx, account_id: str, params: Obj) -> Obj:
        obj = self.retrieve_account(ctx, account_id)
        previous: Obj = {}
        for key in ("email", "default_currency", "business_type"):
            if key in params and params[key] != obj.get(key):
                previous[key] = obj.get(key)
                obj[key] = params[key] or None
        if "metadata" in params:
            previous["metadata"] = obj["metadata"]
            obj["metadata"] = merge_metadata(obj["metadata"], params["metadata"])
        if isinstance(params.get("business_profile"), dict):
            previous["business_profile"] = copy.deepcopy(obj["business_profile"])
            obj["business_profile"].update(params["business_profile"])
        if previous:
            self.state.emit(ctx, account_id, "account.updated", obj, previous)
        return obj

    def list_accounts(self, ctx: Ctx, params: Obj) -> Obj:
        if not ctx.platform:
            return self.state.list_page([], params, "/v1/accounts")
        items = [self.state.account_objects[a] for a in self.state.connected]
        return self.state.list_page(items, params, "/v1/accounts")

    def complete_onboarding(self, account_id: str, ctx: Ctx | None = None) -> Obj:
        obj = self.state.account_objects.get(account_id)
        if obj is None or account_id == self.state.platform_id:
            raise no_such("account", account_id)
        previous = {
            "charges_enabled": obj["charges_enabled"],
            "details_submitted": obj["details_submitted"],
            "payouts_enabled": obj["payouts_enabled"],
            "requirements": copy.deepcopy(obj["requirements"]),
        }
        if obj["charges_enabled"] and obj["details_submitted"]:
            return obj
        obj["charges_enabled"] = obj["details_submitted"] = obj["payouts_enabled"] = True
        obj["requirements"] = requirements(True)
        obj["capabilities"] = {name: "active" for name in obj["capabilities"]}
        obj["tos_acceptance"] = {"date": now()}
        self.state.emit(ctx, account_id, "account.updated", obj, previous)
        return obj

    def create_account_link(self, ctx: Ctx, params: Obj) -> Obj:
        if not ctx.platform:
            raise invalid_request("Account links are created with the platform's key.")
        account_id = str(params.get("account", ""))
        if account_id not in self.state.connected:
            raise no_such("account", account_id, param="account", status=400)
        if params.get("type") not in ("account_onboarding", "account_update"):
            raise param_error(
                "Invalid type: must be one of account_onboarding or account_update", "type"
            )
        token = new_id("", 24)
        created = now()
        link: Obj = {
            "account": account_id,
            "refresh_url": params.get("refresh_url"),
            "return_url": params.get("return_url"),
            "expires_at": created + ACCOUNT_LINK_LIFETIME_SECONDS,
            "used": False,
        }
        self.state.account_links[token] = link
        return {
            "object": "account_link",
            "created": created,
            "expires_at": created + ACCOUNT_LINK_LIFETIME_SECONDS,
            "url": f"{self.state.base_url}/_test/connect/onboarding/{token}",
        }

    def visit_account_link(self, token: str) -> tuple[str | None, Obj | None]:
        """Completes onboarding; the URL to send the visitor to (return_url, or refresh_url
        for a used or expired link) and the account."""
        link = self.state.account_links.get(token)
        if link is None:
            return None, None
        if link["used"] or link["expires_at"] < now():
            return link["refresh_url"], self.state.account_objects.get(link["account"])
        link["used"] = True
        account = self.complete_onboarding(link["account"])
        return link["return_url"], account
