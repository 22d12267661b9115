"""The server's state and Stripe's rules: accounts (platform and connected), customers, payment
methods, PaymentIntents, charges, refunds, Checkout Sessions, tax settings and registrations,
events. Every object lives in the data of one account (the `Stripe-Account` it was made on)."""

from __future__ import annotations

import copy
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from stripe_test_server import cards, tax
from stripe_test_server.errors import (
    ApiError,
    invalid_request,
    no_such,
    param_error,
)

Obj = dict[str, Any]
_ALPHABET = string.ascii_letters + string.digits
MINIMUM_AMOUNTS = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "jpy": 50}
ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "isk", "huf"})
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
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def now() -> int:
    return int(time.time())


def truthy(value: Any) -> bool:
    return value is True or value == "true"


def to_int(value: Any, param: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise param_error(
            f"Invalid integer: {value}", param, code="parameter_invalid_integer"
        ) from None


def merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Stripe's metadata update: keys merge, an empty value unsets a key, `metadata=""` all."""
    if update == "" or update is None:
        return {} if update == "" else current
    if not isinstance(update, dict):
        raise param_error("Invalid hash", "metadata")
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def format_amount(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency}"
    return f"{amount / 100:.2f} {currency}"


@dataclass
class IdempotentResult:
    method: str
    path: str
    params: Any
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class AccountData:
    """One account's objects: the platform's own, or a connected account's."""

    id: str
    objects: dict[str, Obj] = field(default_factory=dict)
    cards: dict[str, cards.TestCard] = field(default_factory=dict)  # payment method id -> card
    session_items: dict[str, list[Obj]] = field(default_factory=dict)
    session_params: dict[str, Obj] = field(default_factory=dict)
    tax_settings: Obj = field(default_factory=dict)
    idempotency: dict[str, IdempotentResult] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    def of_type(self, object_type: str) -> list[Obj]:
        return [o for o in self.objects.values() if o.get("object") == object_type]


@dataclass
class Ctx:
    """Who is asking: the account the request acts on, and the request's ids."""

    account: str
    platform: bool
    request_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class Failure:
    kind: str  # "429" | "500" | "timeout"
    path_prefix: str | None
    delay: float


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


class State:
    """All accounts' data behind one lock; the engine methods below apply Stripe's rules."""

    def __init__(
        self,
        base_url: Callable[[], str],
        emit_hook: Callable[[Obj], object],
        *,
        platform_country: str = "US",
        default_tax_country: str | None = None,
        api_version: str = "2025-09-30.clover",
    ) -> None:
        self.lock = threading.RLock()
        self._base_url = base_url
        self._emit_hook = emit_hook
        self.api_version = api_version
        self.default_tax_country = default_tax_country
        self.platform_id = new_id("acct_1", 15)
        self.accounts: dict[str, AccountData] = {}
        self.account_objects: dict[str, Obj] = {}
        self.connected: set[str] = set()
        self.account_links: dict[str, Obj] = {}
        self.oauth_codes: dict[str, Obj] = {}
        self.access_tokens: dict[str, str] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.sessions: dict[str, str] = {}  # checkout session id -> account id
        self.payment_intents: dict[str, str] = {}  # payment intent id -> account id
        self.events: dict[str, Obj] = {}
        self.failures: list[Failure] = []
        self.request_log: list[Obj] = []
        platform = self._new_account_object(
            self.platform_id, "standard", platform_country, None, {}, onboarded=True
        )
        platform["controller"] = {"type": "account"}
        self.account_objects[self.platform_id] = platform
        self.accounts[self.platform_id] = AccountData(
            self.platform_id, tax_settings=empty_tax_settings()
        )

    @property
    def base_url(self) -> str:
        return self._base_url()

    # -- helpers ---------------------------------------------------------------------------
    def data(self, account: str | None = None) -> AccountData:
        return self.accounts[account or self.platform_id]

    def is_connected(self, account: str) -> bool:
        return account in self.connected

    def emit(
        self, ctx: Ctx | None, account: str, type_: str, obj: Obj, previous: Obj | None = None
    ) -> Obj:
        event: Obj = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": self.api_version,
            "created": now(),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {
                "id": ctx.request_id if ctx else None,
                "idempotency_key": ctx.idempotency_key if ctx else None,
            },
            "type": type_,
        }
        if previous is not None:
            event["data"]["previous_attributes"] = copy.deepcopy(previous)
        if account != self.platform_id:
            event["account"] = account
            event["context"] = account
        self.events[event["id"]] = event
        self.accounts[account].events.append(event["id"])
        self._emit_hook(event)
        return event

    def _get(
        self, ctx: Ctx, object_id: str, object_type: str, label: str, param: str = "id"
    ) -> Obj:
        obj = self.data(ctx.account).objects.get(object_id)
        if obj is None or obj.get("object") != object_type:
            raise no_such(label, object_id, param=param, status=404 if param == "id" else 400)
        return obj

    def _list(self, items: list[Obj], params: Obj, url: str) -> Obj:
        items = sorted(items, key=lambda o: (o.get("created", 0), o["id"]), reverse=True)
        after = params.get("starting_after")
        if after:
            ids = [o["id"] for o in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        limit = to_int(params.get("limit", 10), "limit")
        if not 1 <= limit <= 100:
            raise param_error(
                f"This value must be between 1 and 100 (it currently is {limit}).",
                "limit",
                code="parameter_invalid_integer",
            )
        return {
            "object": "list",
            "data": [copy.deepcopy(o) for o in items[:limit]],
            "has_more": len(items) > limit,
            "url": url,
        }

    def _currency(self, value: Any, param: str = "currency") -> str:
        if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
            raise param_error(f"Invalid currency: {value}", param)
        return value.lower()

    # -- expansion -------------------------------------------------------------------------
    def expand(self, ctx: Ctx, obj: Obj, paths: Any) -> Obj:
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
            node["line_items"] = self.session_line_items(ctx, node["id"], {"limit": 100})
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
        if object_id in self.account_objects:
            return copy.deepcopy(self.account_objects[object_id])
        obj = self.data(ctx.account).objects.get(object_id)
        return copy.deepcopy(obj) if obj is not None else None

    # -- accounts --------------------------------------------------------------------------
    def _new_account_object(
        self,
        account_id: str,
        type_: str,
        country: str,
        email: str | None,
        params: Obj,
        *,
        onboarded: bool,
    ) -> Obj:
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
            "capabilities": capabilities,
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
            "requirements": self._requirements(onboarded),
            "settings": {"dashboard": {"display_name": business_profile.get("name")}},
            "tos_acceptance": {"date": now() if onboarded else None},
            "type": type_,
        }

    @staticmethod
    def _requirements(onboarded: bool) -> Obj:
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

    def create_account(self, ctx: Ctx, params: Obj, *, onboarded: bool = False) -> Obj:
        if not ctx.platform:
            raise invalid_request(
                "Connected accounts cannot create other accounts: use the platform's key "
                "without a Stripe-Account header.",
                status=400,
            )
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
        country = str(params.get("country") or "US").upper()
        account_id = new_id("acct_1", 15)
        obj = self._new_account_object(
            account_id, type_, country, params.get("email"), params, onboarded=onboarded
        )
        self.account_objects[account_id] = obj
        self.accounts[account_id] = AccountData(account_id, tax_settings=empty_tax_settings())
        self.connected.add(account_id)
        return obj

    def retrieve_account(self, ctx: Ctx, account_id: str | None) -> Obj:
        target = account_id or ctx.account
        visible = target == ctx.account or (ctx.platform and target in self.connected)
        if not visible or target not in self.account_objects:
            raise invalid_request(
                f"The provided key does not have access to account '{target}' (or that account "
                "does not exist). Application access may have been revoked.",
                code="account_invalid",
                status=403 if account_id else 404,
            )
        return self.account_objects[target]

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
            self.emit(ctx, account_id, "account.updated", obj, previous)
        return obj

    def list_accounts(self, ctx: Ctx, params: Obj) -> Obj:
        if not ctx.platform:
            return self._list([], params, "/v1/accounts")
        items = [self.account_objects[a] for a in self.connected]
        return self._list(items, params, "/v1/accounts")

    def complete_onboarding(self, account_id: str, ctx: Ctx | None = None) -> Obj:
        obj = self.account_objects.get(account_id)
        if obj is None or account_id == self.platform_id:
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
        obj["requirements"] = self._requirements(True)
        obj["capabilities"] = {name: "active" for name in obj["capabilities"]}
        obj["tos_acceptance"] = {"date": now()}
        self.emit(ctx, account_id, "account.updated", obj, previous)
        return obj

    def create_account_link(self, ctx: Ctx, params: Obj) -> Obj:
        if not ctx.platform:
            raise invalid_request("Account links are created with the platform's key.")
        account_id = str(params.get("account", ""))
        if account_id not in self.connected:
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
            "expires_at": created + 300,
            "used": False,
        }
        self.account_links[token] = link
        return {
            "object": "account_link",
            "created": created,
            "expires_at": created + 300,
            "url": f"{self.base_url}/_test/connect/onboarding/{token}",
        }

    def visit_account_link(self, token: str) -> tuple[str | None, Obj | None]:
        """Completes onboarding; the URL to send the visitor to (return_url, or refresh_url
        for a used or expired link) and the account."""
        link = self.account_links.get(token)
        if link is None:
            return None, None
        if link["used"] or link["expires_at"] < now():
            return link["refresh_url"], self.account_objects.get(link["account"])
        link["used"] = True
        account = self.complete_onboarding(link["account"])
        return link["return_url"], account

    # -- OAuth (Standard accounts that already exist) -------------------------------------
    def create_oauth_code(self, account_id: str | None = None, *, country: str = "US") -> str:
        if account_id is None:
            platform_ctx = Ctx(self.platform_id, True)
            account = self.create_account(
                platform_ctx, {"type": "standard", "country": country}, onboarded=True
            )
            account_id = account["id"]
            self.connected.discard(account_id)  # connected only once the code is exchanged
        code = new_id("ac_", 24)
        self.oauth_codes[code] = {"account": account_id, "used": False}
        return code

    def oauth_token(self, params: Obj) -> Obj:
        grant = params.get("grant_type")
        if grant == "refresh_token":
            account_id = self.refresh_tokens.get(str(params.get("refresh_token")))
            if account_id is None or account_id not in self.connected:
                raise OAuthError("invalid_grant", "Invalid refresh token")
        elif grant == "authorization_code":
            code = str(params.get("code") or "")
            entry = self.oauth_codes.get(code)
            if entry is None and code.startswith("ac_test"):
                self.create_oauth_code()  # a free-form test code: a new Standard account
                entry = self.oauth_codes.pop(next(reversed(self.oauth_codes)))
                self.oauth_codes[code] = entry
            if entry is None:
                raise OAuthError("invalid_grant", f"Authorization code does not exist: {code}")
            if entry["used"]:
                raise OAuthError("invalid_grant", f"Authorization code already used: {code}")
            entry["used"] = True
            account_id = entry["account"]
        else:
            raise OAuthError("unsupported_grant_type", f"Unsupported grant type: {grant}")
        self.connected.add(account_id)
        access = new_id("sk_test_", 32)
        refresh = new_id("rt_", 32)
        self.access_tokens[access] = account_id
        self.refresh_tokens[refresh] = account_id
        return {
            "access_token": access,
            "livemode": False,
            "refresh_token": refresh,
            "scope": str(params.get("scope") or "read_write"),
            "stripe_publishable_key": new_id("pk_test_", 32),
            "stripe_user_id": account_id,
            "token_type": "bearer",
        }

    def oauth_deauthorize(self, ctx: Ctx, params: Obj) -> Obj:
        account_id = str(params.get("stripe_user_id") or "")
        if account_id not in self.connected:
            raise OAuthError("invalid_client", f"No such user: {account_id}")
        self.emit(ctx, account_id, "account.application.deauthorized", {"id": new_id("ca_")})
        self.connected.discard(account_id)
        for token, owner in list(self.access_tokens.items()):
            if owner == account_id:
                del self.access_tokens[token]
        return {"stripe_user_id": account_id}

    # -- customers -------------------------------------------------------------------------
    def create_customer(self, ctx: Ctx, params: Obj) -> Obj:
        data = self.data(ctx.account)
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
        self._apply_address(customer, params)
        data.objects[customer["id"]] = customer
        if params.get("payment_method"):
            self.attach_payment_method(
                ctx, str(params["payment_method"]), {"customer": customer["id"]}, "payment_method"
            )
        self._apply_invoice_settings(ctx, customer, params)
        return customer

    @staticmethod
    def _apply_address(customer: Obj, params: Obj) -> None:
        address = params.get("address")
        if address == "":
            customer["address"] = None
        elif isinstance(address, dict):
            customer["address"] = {
                key: address.get(key)
                for key in ("city", "country", "line1", "line2", "postal_code", "state")
            }

    def _apply_invoice_settings(self, ctx: Ctx, customer: Obj, params: Obj) -> None:
        settings = params.get("invoice_settings")
        if isinstance(settings, dict) and "default_payment_method" in settings:
            pm_id = settings["default_payment_method"] or None
            if pm_id is not None:
                pm = self._get(
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
        obj = self.data(ctx.account).objects.get(customer_id)
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
        self._apply_address(customer, params)
        self._apply_invoice_settings(ctx, customer, params)
        return customer

    def delete_customer(self, ctx: Ctx, customer_id: str) -> Obj:
        self.retrieve_customer(ctx, customer_id)
        del self.data(ctx.account).objects[customer_id]
        return {"id": customer_id, "object": "customer", "deleted": True}

    def list_customers(self, ctx: Ctx, params: Obj) -> Obj:
        items = self.data(ctx.account).of_type("customer")
        if params.get("email"):
            items = [c for c in items if c.get("email") == params["email"]]
        return self._list(items, params, "/v1/customers")

    # -- payment methods -------------------------------------------------------------------
    def _new_payment_method(self, ctx: Ctx, card: cards.TestCard, params: Obj) -> Obj:
        data = self.data(ctx.account)
        billing = params.get("billing_details") if isinstance(params, dict) else None
        billing = billing if isinstance(billing, dict) else {}
        pm: Obj = {
            "id": new_id("pm_"),
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": billing.get("address"),
                "email": billing.get("email"),
                "name": billing.get("name"),
                "phone": billing.get("phone"),
            },
            "card": {
                "brand": card.brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": None,
                    "cvc_check": "pass",
                },
                "country": card.country,
                "exp_month": 12,
                "exp_year": time.gmtime().tm_year + 3,
                "fingerprint": new_id("", 16),
                "funding": "credit",
                "last4": card.last4,
                "three_d_secure_usage": {"supported": True},
            },
            "created": now(),
            "customer": None,
            "livemode": False,
            "metadata": merge_metadata({}, params.get("metadata")),
            "type": "card",
        }
        data.objects[pm["id"]] = pm
        data.cards[pm["id"]] = card
        return pm

    def resolve_payment_method(self, ctx: Ctx, reference: str, param: str) -> Obj:
        """An existing payment method of the account, or a new one from a test id/token."""
        existing = self.data(ctx.account).objects.get(reference)
        if existing is not None and existing.get("object") == "payment_method":
            return existing
        card = cards.lookup(reference)
        if card is None:
            raise no_such("PaymentMethod", reference, param=param, status=400)
        return self._new_payment_method(ctx, card, {})

    def create_payment_method(self, ctx: Ctx, params: Obj) -> Obj:
        if params.get("type") != "card":
            raise param_error(
                "This test server creates payment methods of type `card` only.", "type"
            )
        card_params = params.get("card")
        if not isinstance(card_params, dict):
            raise param_error("Missing required param: card.", "card", code="parameter_missing")
        reference = card_params.get("token") or card_params.get("number")
        card = cards.lookup(str(reference or ""))
        if card is None:
            raise ApiError(
                402,
                "card_error",
                "Your card number is incorrect.",
                code="incorrect_number",
                param="card[number]",
            )
        return self._new_payment_method(ctx, card, params)

    def retrieve_payment_method(self, ctx: Ctx, pm_id: str) -> Obj:
        if cards.lookup(pm_id) is not None and pm_id.startswith("pm_card_"):
            return self.resolve_payment_method(ctx, pm_id, "id")
        return self._get(ctx, pm_id, "payment_method", "PaymentMethod")

    def attach_payment_method(self, ctx: Ctx, pm_id: str, params: Obj, param: str = "id") -> Obj:
        pm = self.resolve_payment_method(ctx, pm_id, param)
        customer_id = str(params.get("customer") or "")
        self._get(ctx, customer_id, "customer", "customer", "customer")
        if pm["customer"] and pm["customer"] != customer_id:
            raise invalid_request(
                "The payment method you provided has already been attached to a customer.",
                param=param,
                code="payment_method_unexpected_state",
            )
        card = self.data(ctx.account).cards[pm["id"]]
        if card.attach_fails:
            raise ApiError(
                402,
                "card_error",
                card.message or cards.DECLINED,
                code=card.code,
                param="",
                extra={"decline_code": card.decline_code},
            )
        pm["customer"] = customer_id
        return pm

    def detach_payment_method(self, ctx: Ctx, pm_id: str) -> Obj:
        pm = self._get(ctx, pm_id, "payment_method", "PaymentMethod")
        if not pm["customer"]:
            raise invalid_request(
                "The payment method you provided is not attached to a customer so detachment "
                "is impossible.",
                code="payment_method_unexpected_state",
            )
        pm["customer"] = None
        return pm

    def list_payment_methods(self, ctx: Ctx, params: Obj, customer_id: str | None = None) -> Obj:
        customer_id = customer_id or params.get("customer")
        if customer_id:
            self._get(ctx, str(customer_id), "customer", "customer", "customer")
        items = [
            pm
            for pm in self.data(ctx.account).of_type("payment_method")
            if customer_id is None or pm["customer"] == customer_id
        ]
        url = (
            f"/v1/customers/{customer_id}/payment_methods" if customer_id else "/v1/payment_methods"
        )
        return self._list(items, params, url)

    # -- payment intents -------------------------------------------------------------------
    def _require_charges_enabled(self, ctx: Ctx) -> None:
        account = self.account_objects[ctx.account]
        if not account["charges_enabled"]:
            raise invalid_request(
                "Your account cannot currently make charges. To find out why charge creation "
                "is currently disabled, look at the `requirements.disabled_reason` property "
                f"on this account (/v1/accounts/{ctx.account}).",
                code="account_invalid",
            )

    def _check_amount(self, amount: int, currency: str, param: str = "amount") -> None:
        minimum = MINIMUM_AMOUNTS.get(currency, 50)
        if amount < 1:
            raise param_error(
                "This value must be greater than or equal to 1.",
                param,
                code="parameter_invalid_integer",
            )
        if amount < minimum:
            raise invalid_request(
                f"Amount must be at least {format_amount(minimum, currency)}",
                param=param,
                code="amount_too_small",
                saved=False,
            )

    def create_payment_intent(self, ctx: Ctx, params: Obj) -> Obj:
        currency = self._currency(params.get("currency"))
        amount = to_int(params.get("amount"), "amount")
        self._check_amount(amount, currency)
        confirm = truthy(params.get("confirm"))
        off_session = params.get("off_session")
        if off_session is not None and not confirm:
            raise param_error(
                "You can only pass in `off_session` when `confirm` is set to true.", "off_session"
            )
        fee = params.get("application_fee_amount")
        if fee is not None:
            if ctx.platform:
                raise invalid_request(
                    "Can only apply an application_fee_amount when the PaymentIntent is "
                    "attempting a direct payment (using an OAuth key or Stripe-Account header) "
                    "or destination payment (using `transfer_data[destination]`).",
                    param="application_fee_amount",
                )
            fee = to_int(fee, "application_fee_amount")
            if fee < 0 or fee > amount:
                raise invalid_request(
                    "The application fee must be less than or equal to the amount.",
                    param="application_fee_amount",
                )
        customer_id = params.get("customer") or None
        if customer_id:
            self._get(ctx, customer_id, "customer", "customer", "customer")
        pm_id = None
        if params.get("payment_method"):
            pm = self.resolve_payment_method(ctx, str(params["payment_method"]), "payment_method")
            if pm["customer"] and customer_id and pm["customer"] != customer_id:
                raise invalid_request(
                    "The provided PaymentMethod belongs to a different Customer.",
                    param="payment_method",
                )
            pm_id = pm["id"]
        if confirm:
            self._require_charges_enabled(ctx)
        apm = params.get("automatic_payment_methods")
        pi: Obj = {
            "id": new_id("pi_"),
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "application_fee_amount": fee,
            "automatic_payment_methods": (
                {
                    "allow_redirects": apm.get("allow_redirects", "always"),
                    "enabled": truthy(apm.get("enabled")),
                }
                if isinstance(apm, dict)
                else None
            ),
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": params.get("capture_method") or "automatic",
            "client_secret": None,
            "confirmation_method": params.get("confirmation_method") or "automatic",
            "created": now(),
            "currency": currency,
            "customer": customer_id,
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": merge_metadata({}, params.get("metadata")),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": pm_id,
            "payment_method_types": list(params.get("payment_method_types") or ["card"]),
            "receipt_email": params.get("receipt_email"),
            "setup_future_usage": params.get("setup_future_usage"),
            "statement_descriptor": params.get("statement_descriptor"),
            "status": "requires_confirmation" if pm_id else "requires_payment_method",
        }
        pi["client_secret"] = f"{pi['id']}_secret_{new_id('', 25)}"
        self.data(ctx.account).objects[pi["id"]] = pi
        self.payment_intents[pi["id"]] = ctx.account
        self.emit(ctx, ctx.account, "payment_intent.created", pi)
        if confirm:
            self._confirm(
                ctx,
                pi,
                truthy(off_session) or off_session in ("one_off", "recurring"),
                params.get("return_url"),
            )
        return pi

    def retrieve_payment_intent(self, ctx: Ctx, pi_id: str) -> Obj:
        return self._get(ctx, pi_id, "payment_intent", "payment_intent")

    def update_payment_intent(self, ctx: Ctx, pi_id: str, params: Obj) -> Obj:
        pi = self.retrieve_payment_intent(ctx, pi_id)
        locked = pi["status"] in ("succeeded", "canceled", "processing")
        if locked and set(params) - {"metadata", "description", "expand"}:
            raise self._unexpected_state(pi, "update")
        if "metadata" in params:
            pi["metadata"] = merge_metadata(pi["metadata"], params["metadata"])
        for key in ("description", "receipt_email"):
            if key in params:
                pi[key] = params[key] or None
        if "amount" in params:
            amount = to_int(params["amount"], "amount")
            self._check_amount(amount, pi["currency"])
            pi["amount"] = amount
        if params.get("payment_method"):
            pi["payment_method"] = self.resolve_payment_method(
                ctx, str(params["payment_method"]), "payment_method"
            )["id"]
            pi["status"] = "requires_confirmation"
        return pi

    @staticmethod
    def _unexpected_state(pi: Obj, action: str) -> ApiError:
        return ApiError(
            400,
            "invalid_request_error",
            f"You cannot {action} this PaymentIntent because it has a status of {pi['status']}.",
            code="payment_intent_unexpected_state",
            extra={"payment_intent": copy.deepcopy(pi)},
        )

    def confirm_payment_intent(self, ctx: Ctx, pi_id: str, params: Obj) -> Obj:
        pi = self.retrieve_payment_intent(ctx, pi_id)
        if pi["status"] not in (
            "requires_payment_method",
            "requires_confirmation",
            "requires_action",
        ):
            raise self._unexpected_state(pi, "confirm")
        if params.get("payment_method"):
            pm = self.resolve_payment_method(ctx, str(params["payment_method"]), "payment_method")
            pi["payment_method"] = pm["id"]
        if not pi["payment_method"]:
            raise invalid_request(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "To confirm the PaymentIntent with a payment method, pass `payment_method`.",
                code="payment_intent_unexpected_state",
            )
        self._require_charges_enabled(ctx)
        off_session = params.get("off_session")
        self._confirm(
            ctx,
            pi,
            truthy(off_session) or off_session in ("one_off", "recurring"),
            params.get("return_url"),
        )
        return pi

    def cancel_payment_intent(self, ctx: Ctx, pi_id: str, params: Obj) -> Obj:
        pi = self.retrieve_payment_intent(ctx, pi_id)
        if pi["status"] in ("succeeded", "canceled"):
            raise self._unexpected_state(pi, "cancel")
        pi["status"] = "canceled"
        pi["canceled_at"] = now()
        pi["cancellation_reason"] = params.get("cancellation_reason") or "requested_by_customer"
        pi["next_action"] = None
        self.emit(ctx, ctx.account, "payment_intent.canceled", pi)
        return pi

    def list_payment_intents(self, ctx: Ctx, params: Obj) -> Obj:
        items = self.data(ctx.account).of_type("payment_intent")
        if params.get("customer"):
            items = [pi for pi in items if pi["customer"] == params["customer"]]
        return self._list(items, params, "/v1/payment_intents")

    def _charge(self, ctx: Ctx, pi: Obj, card: cards.TestCard, paid: bool) -> Obj:
        charge: Obj = {
            "id": new_id("ch_"),
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": pi["amount"] if paid else 0,
            "amount_refunded": 0,
            "application_fee_amount": pi["application_fee_amount"],
            "balance_transaction": new_id("txn_") if paid else None,
            "captured": paid,
            "created": now(),
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": pi["description"],
            "failure_code": None if paid else card.code,
            "failure_message": None if paid else card.message,
            "livemode": False,
            "metadata": dict(pi["metadata"]),
            "outcome": {
                "network_status": "approved_by_network" if paid else "declined_by_network",
                "reason": None if paid else card.decline_code,
                "risk_level": "normal",
                "seller_message": "Payment complete." if paid else "The bank declined the payment.",
                "type": "authorized" if paid else "issuer_declined",
            },
            "paid": paid,
            "payment_intent": pi["id"],
            "payment_method": pi["payment_method"],
            "payment_method_details": {
                "card": {"brand": card.brand, "country": card.country, "last4": card.last4},
                "type": "card",
            },
            "receipt_email": pi["receipt_email"],
            "receipt_url": f"{self.base_url}/_test/receipts/{pi['id']}",
            "refunded": False,
            "refunds": {"object": "list", "data": [], "has_more": False, "url": "/v1/refunds"},
            "status": "succeeded" if paid else "failed",
        }
        self.data(ctx.account).objects[charge["id"]] = charge
        pi["latest_charge"] = charge["id"]
        return charge

    def _succeed(self, ctx: Ctx, pi: Obj, card: cards.TestCard) -> None:
        charge = self._charge(ctx, pi, card, True)
        if pi.get("setup_future_usage") and pi.get("customer"):
            # Stripe: the PaymentMethod is attached to the customer for later (off-session) use.
            pm = self.data(ctx.account).objects[pi["payment_method"]]
            if not pm.get("customer"):
                self.attach_payment_method(ctx, pm["id"], {"customer": pi["customer"]})
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        pi["next_action"] = None
        pi["last_payment_error"] = None
        self.emit(ctx, ctx.account, "charge.succeeded", charge)
        self.emit(ctx, ctx.account, "payment_intent.succeeded", pi)

    def _fail(
        self, ctx: Ctx, pi: Obj, card: cards.TestCard, code: str, decline: str | None, message: str
    ) -> ApiError:
        charge = self._charge(ctx, pi, card, False)
        charge["failure_code"] = code
        charge["failure_message"] = message
        pm = copy.deepcopy(self.data(ctx.account).objects[pi["payment_method"]])
        error: Obj = {
            "type": "card_error",
            "code": code,
            "decline_code": decline,
            "doc_url": f"https://stripe.com/docs/error-codes/{code}",
            "message": message,
            "charge": charge["id"],
            "payment_method": pm,
        }
        pi["status"] = "requires_payment_method"
        pi["last_payment_error"] = error
        pi["next_action"] = None
        self.emit(ctx, ctx.account, "charge.failed", charge)
        self.emit(ctx, ctx.account, "payment_intent.payment_failed", pi)
        return ApiError(
            402,
            "card_error",
            message,
            code=code,
            extra={
                "decline_code": decline,
                "charge": charge["id"],
                "payment_intent": copy.deepcopy(pi),
                "payment_method": pm,
            },
        )

    def _confirm(self, ctx: Ctx, pi: Obj, off_session: bool, return_url: Any) -> None:
        card = self.data(ctx.account).cards[pi["payment_method"]]
        if card.outcome == "succeed":
            self._succeed(ctx, pi, card)
        elif card.outcome == "decline":
            raise self._fail(
                ctx,
                pi,
                card,
                card.code or "card_declined",
                card.decline_code,
                card.message or cards.DECLINED,
            )
        elif off_session:
            # Stripe: an off-session payment that needs authentication fails with
            # `authentication_required` (the customer must come back on session).
            raise self._fail(
                ctx,
                pi,
                card,
                "authentication_required",
                "authentication_required",
                "Your card was declined. This transaction requires authentication.",
            )
        else:
            url = f"{self.base_url}/_test/3ds/{pi['id']}"
            pi["status"] = "requires_action"
            if return_url:
                pi["next_action"] = {
                    "type": "redirect_to_url",
                    "redirect_to_url": {"return_url": return_url, "url": url},
                }
            else:
                pi["next_action"] = {
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": url},
                }
            self.emit(ctx, ctx.account, "payment_intent.requires_action", pi)

    def authenticate(self, pi_id: str, success: bool = True) -> Obj:
        """Test-only: the customer passes (or fails) the 3-D Secure challenge."""
        account = self.payment_intents.get(pi_id)
        if account is None:
            raise no_such("payment_intent", pi_id)
        ctx = Ctx(account, account == self.platform_id)
        pi = self.data(account).objects[pi_id]
        if pi["status"] != "requires_action":
            raise self._unexpected_state(pi, "authenticate")
        card = self.data(account).cards[pi["payment_method"]]
        if success:
            self._succeed(ctx, pi, card)
        else:
            pi["status"] = "requires_payment_method"
            pi["next_action"] = None
            pi["last_payment_error"] = {
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": "The provided PaymentMethod has failed authentication.",
            }
            self.emit(ctx, account, "payment_intent.payment_failed", pi)
        return pi

    def retrieve_charge(self, ctx: Ctx, charge_id: str) -> Obj:
        return self._get(ctx, charge_id, "charge", "charge")

    # -- refunds ---------------------------------------------------------------------------
    def create_refund(self, ctx: Ctx, params: Obj) -> Obj:
        data = self.data(ctx.account)
        if params.get("charge"):
            charge = self._get(ctx, str(params["charge"]), "charge", "charge", "charge")
        elif params.get("payment_intent"):
            pi = self._get(
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
            charge = data.objects[pi["latest_charge"]]
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
        data.objects[refund["id"]] = refund
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
        self.emit(ctx, ctx.account, "refund.created", refund)
        self.emit(ctx, ctx.account, "charge.refunded", charge, previous)
        return refund

    def retrieve_refund(self, ctx: Ctx, refund_id: str) -> Obj:
        return self._get(ctx, refund_id, "refund", "refund")

    def list_refunds(self, ctx: Ctx, params: Obj) -> Obj:
        items = self.data(ctx.account).of_type("refund")
        for key in ("payment_intent", "charge"):
            if params.get(key):
                items = [r for r in items if r[key] == params[key]]
        return self._list(items, params, "/v1/refunds")

    # -- tax settings and registrations ----------------------------------------------------
    def retrieve_tax_settings(self, ctx: Ctx) -> Obj:
        return self.data(ctx.account).tax_settings

    def update_tax_settings(self, ctx: Ctx, params: Obj) -> Obj:
        settings = self.data(ctx.account).tax_settings
        before = copy.deepcopy(settings)
        defaults = params.get("defaults")
        if isinstance(defaults, dict):
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
                if key == "tax_behavior" and value not in (
                    "exclusive",
                    "inclusive",
                    "inferred_by_currency",
                ):
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
        head = params.get("head_office")
        if isinstance(head, dict):
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
            settings["head_office"] = {
                "address": {
                    key: (str(address[key]).upper() if key == "country" else address[key])
                    if address.get(key)
                    else None
                    for key in ("city", "country", "line1", "line2", "postal_code", "state")
                }
            }
        refresh_tax_status(settings)
        if settings != before:
            previous = {
                key: before[key]
                for key in ("defaults", "head_office", "status", "status_details")
                if before[key] != settings[key]
            }
            self.emit(ctx, ctx.account, "tax.settings.updated", settings, previous)
        return settings

    def _registration_out(self, registration: Obj) -> Obj:
        t = now()
        if registration["expires_at"] is not None and registration["expires_at"] <= t:
            registration["status"] = "expired"
        elif registration["active_from"] > t:
            registration["status"] = "scheduled"
        else:
            registration["status"] = "active"
        return registration

    @staticmethod
    def _timestamp(value: Any, param: str) -> int:
        if value == "now":
            return now()
        return to_int(value, param)

    def create_tax_registration(self, ctx: Ctx, params: Obj) -> Obj:
        country = str(params.get("country") or "").upper()
        if len(country) != 2 or not country.isalpha():
            raise param_error(f"Invalid country: {params.get('country')}", "country")
        options = params.get("country_options")
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
        active_from = self._timestamp(params.get("active_from"), "active_from")
        expires_at = (
            self._timestamp(params["expires_at"], "expires_at")
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
        self.data(ctx.account).objects[registration["id"]] = registration
        return self._registration_out(registration)

    def registrations(self, account: str) -> list[Obj]:
        return [self._registration_out(r) for r in self.data(account).of_type("tax.registration")]

    def list_tax_registrations(self, ctx: Ctx, params: Obj) -> Obj:
        items = self.registrations(ctx.account)
        status = params.get("status", "all")
        if status != "all":
            items = [r for r in items if r["status"] == status]
        return self._list(items, params, "/v1/tax/registrations")

    def retrieve_tax_registration(self, ctx: Ctx, reg_id: str) -> Obj:
        return self._registration_out(
            self._get(ctx, reg_id, "tax.registration", "tax registration")
        )

    def update_tax_registration(self, ctx: Ctx, reg_id: str, params: Obj) -> Obj:
        registration = self._get(ctx, reg_id, "tax.registration", "tax registration")
        if "active_from" in params:
            registration["active_from"] = self._timestamp(params["active_from"], "active_from")
        if "expires_at" in params:
            registration["expires_at"] = (
                None
                if params["expires_at"] == ""
                else self._timestamp(params["expires_at"], "expires_at")
            )
        return self._registration_out(registration)

    # -- checkout sessions -----------------------------------------------------------------
    def create_tax_calculation(self, ctx: Ctx, params: Obj) -> Obj:
        """Stripe Tax's calculation: each line taxed at the customer's location where the
        account holds a registration; `stripe_tax_inactive` unless the settings are active."""
        data = self.data(ctx.account)
        if data.tax_settings["status"] != "active":
            raise invalid_request(
                "Stripe Tax has not been activated on your account. Please visit "
                "https://stripe.com/docs/tax/set-up to get started.",
                code="stripe_tax_inactive",
            )
        currency = self._currency(params.get("currency"))
        raw_items = params.get("line_items")
        if not isinstance(raw_items, list) or not raw_items:
            raise param_error(
                "Missing required param: line_items.", "line_items", code="parameter_missing"
            )
        details = params.get("customer_details") or {}
        address = details.get("address") or {}
        if params.get("customer"):
            customer = self._get(ctx, str(params["customer"]), "customer", "customer", "customer")
            address = customer.get("address") or address
        if not address.get("country"):
            raise invalid_request(
                "The customer's address is required to calculate tax.",
                param="customer_details[address]",
                code="customer_tax_location_invalid",
            )
        location = tax.Location(str(address["country"]), address.get("state"))
        percentage = tax.rate_for(location, self.registrations(ctx.account))
        default_code = data.tax_settings["defaults"]["tax_code"]
        references: set[str] = set()
        lines: list[Obj] = []
        exclusive = inclusive = total = 0
        for index, raw in enumerate(raw_items):
            param = f"line_items[{index}]"
            amount = to_int(raw.get("amount"), f"{param}[amount]")
            if amount < 0:
                raise param_error(
                    "This value must be greater than or equal to 0.", f"{param}[amount]"
                )
            reference = str(raw.get("reference") or f"li_{index}")
            if reference in references:
                raise param_error(
                    "The reference must be unique across line items.", f"{param}[reference]"
                )
            references.add(reference)
            behavior = str(raw.get("tax_behavior") or "exclusive")
            if behavior not in ("exclusive", "inclusive"):
                raise param_error(
                    "Invalid tax_behavior: must be one of exclusive or inclusive",
                    f"{param}[tax_behavior]",
                )
            code = raw.get("tax_code") or default_code
            line = tax.line_tax(amount, percentage, behavior, code)
            if line.inclusive:
                inclusive += line.amount_tax
            else:
                exclusive += line.amount_tax
            total += line.amount_total
            lines.append(
                {
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
            )
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
            "expires_at": now() + 90 * 86400,
            "livemode": False,
            "tax_amount_exclusive": exclusive,
            "tax_amount_inclusive": inclusive,
            "tax_date": now(),
        }
        expand = params.get("expand") or []
        calculation["line_items"] = (
            {
                "object": "list",
                "data": lines,
                "has_more": False,
                "url": f"/v1/tax/calculations/{calculation['id']}/line_items",
            }
            if "line_items" in expand
            else None
        )
        return calculation

    def tax_location(self, ctx: Ctx, session: Obj) -> tax.Location | None:
        details = session.get("customer_details") or {}
        address = details.get("address") or {}
        if address.get("country"):
            return tax.Location(address["country"], address.get("state"))
        if session.get("customer"):
            customer = self.data(ctx.account).objects.get(session["customer"]) or {}
            address = customer.get("address") or {}
            if address.get("country"):
                return tax.Location(address["country"], address.get("state"))
        if self.default_tax_country:
            return tax.Location(self.default_tax_country, None)
        return None

    def _price_session(self, ctx: Ctx, session: Obj) -> None:
        """(Re)computes line item and session amounts, with tax when automatic tax is on."""
        items = self.data(ctx.account).session_items[session["id"]]
        automatic = session["automatic_tax"]["enabled"]
        location = self.tax_location(ctx, session) if automatic else None
        settings = self.data(ctx.account).tax_settings
        registrations = self.registrations(ctx.account)
        percentage = tax.rate_for(location, registrations) if automatic else Decimal(0)
        subtotal = total = tax_total = 0
        for item in items:
            price = item["price"]
            gross = price["unit_amount"] * item["quantity"]
            if automatic:
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
                item["taxes"] = (
                    [
                        {
                            "amount": line.amount_tax,
                            "rate": {
                                "id": "txr_"
                                + (location.country if location else "XX")
                                + str(line.percentage).replace(".", "_"),
                                "object": "tax_rate",
                                "country": location.country if location else None,
                                "display_name": "Sales Tax"
                                if location and location.country == "US"
                                else "VAT",
                                "inclusive": line.inclusive,
                                "jurisdiction": location.state or location.country
                                if location
                                else None,
                                "percentage": float(line.percentage),
                                "state": location.state if location else None,
                                "tax_type": tax.tax_type(location.country if location else ""),
                            },
                            "taxability_reason": line.taxability_reason,
                            "taxable_amount": gross - line.amount_tax if line.inclusive else gross,
                        }
                    ]
                    if location
                    else []
                )
            else:
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

    def create_checkout_session(self, ctx: Ctx, params: Obj) -> Obj:
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
        line_items = params.get("line_items")
        if not isinstance(line_items, list) or not line_items:
            raise param_error(
                "You must specify `line_items` in `payment` mode.",
                "line_items",
                code="parameter_missing",
            )
        data = self.data(ctx.account)
        self._require_charges_enabled(ctx)
        automatic = isinstance(params.get("automatic_tax"), dict) and truthy(
            params["automatic_tax"].get("enabled")
        )
        if automatic and data.tax_settings["status"] != "active":
            raise invalid_request(
                "Stripe Tax has not been activated on your account. Please visit "
                "https://stripe.com/docs/tax/set-up to get started.",
                code="stripe_tax_inactive",
            )
        customer_id = params.get("customer") or None
        if customer_id:
            self._get(ctx, customer_id, "customer", "customer", "customer")
        items: list[Obj] = []
        currency: str | None = None
        for index, raw in enumerate(line_items):
            items.append(self._line_item(raw, index))
            item_currency = items[-1]["currency"]
            if currency is None:
                currency = item_currency
            elif currency != item_currency:
                raise invalid_request(
                    "All line items must have the same currency.",
                    param=f"line_items[{index}][price_data][currency]",
                )
        assert currency is not None
        created = now()
        session_id = new_id("cs_test_", 58)
        session: Obj = {
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
            "expires_at": to_int(params.get("expires_at", created + 86400), "expires_at"),
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
            "url": f"{self.base_url}/_test/checkout/{session_id}",
        }
        data.objects[session_id] = session
        data.session_items[session_id] = items
        data.session_params[session_id] = copy.deepcopy(params)
        self.sessions[session_id] = ctx.account
        self._price_session(ctx, session)
        if session["amount_total"] and session["amount_total"] < MINIMUM_AMOUNTS.get(currency, 50):
            del data.objects[session_id]
            del self.sessions[session_id]
            raise invalid_request(
                "The Checkout Session's total amount due must add up to at least "
                f"{format_amount(MINIMUM_AMOUNTS.get(currency, 50), currency)}",
                saved=False,
            )
        return session

    def _line_item(self, raw: Any, index: int) -> Obj:
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
        currency = self._currency(price_data.get("currency"), f"{path}[price_data][currency]")
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
        product_data = price_data.get("product_data")
        if price_data.get("product"):
            product: Obj = {"id": str(price_data["product"]), "name": str(price_data["product"])}
        elif isinstance(product_data, dict) and product_data.get("name"):
            product = {"id": new_id("prod_", 14), "name": str(product_data["name"])}
        else:
            raise param_error(
                f"Missing required param: {path}[price_data][product_data][name].",
                f"{path}[price_data][product_data][name]",
                code="parameter_missing",
            )
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

    def retrieve_checkout_session(self, ctx: Ctx, session_id: str) -> Obj:
        session = self._get(ctx, session_id, "checkout.session", "checkout.session")
        if session["status"] == "open" and session["expires_at"] <= now():
            session["status"] = "expired"
        return session

    def session_line_items(self, ctx: Ctx, session_id: str, params: Obj) -> Obj:
        self._get(ctx, session_id, "checkout.session", "checkout.session")
        items = [
            {k: v for k, v in item.items() if not k.startswith("_")}
            for item in self.data(ctx.account).session_items[session_id]
        ]
        listing = self._list(
            [dict(item, created=0) for item in items],
            params,
            f"/v1/checkout/sessions/{session_id}/line_items",
        )
        for item in listing["data"]:
            item.pop("created", None)
        listing["data"].sort(key=lambda i: [x["id"] for x in items].index(i["id"]))
        return listing

    def list_checkout_sessions(self, ctx: Ctx, params: Obj) -> Obj:
        items = self.data(ctx.account).of_type("checkout.session")
        for key in ("payment_intent", "customer", "status"):
            if params.get(key):
                items = [s for s in items if s[key] == params[key]]
        return self._list(items, params, "/v1/checkout/sessions")

    def expire_checkout_session(self, ctx: Ctx, session_id: str) -> Obj:
        session = self.retrieve_checkout_session(ctx, session_id)
        if session["status"] != "open":
            raise invalid_request(
                f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f'Checkout Session has a status of "{session["status"]}".',
                param="session",
            )
        session["status"] = "expired"
        self.emit(ctx, ctx.account, "checkout.session.expired", session)
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
        account = self.sessions.get(session_id)
        if account is None:
            raise no_such("checkout.session", session_id)
        ctx = Ctx(account, account == self.platform_id)
        data = self.data(account)
        session = self.retrieve_checkout_session(ctx, session_id)
        if session["status"] != "open":
            raise invalid_request(
                f"This Checkout Session is no longer active (status {session['status']})."
            )
        customer = data.objects.get(session["customer"]) if session["customer"] else None
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
        session["customer_details"] = {
            "address": address or None,
            "email": email or (customer or {}).get("email") or session.get("customer_email"),
            "name": name or (customer or {}).get("name"),
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        }
        self._price_session(ctx, session)
        if session["automatic_tax"]["enabled"] and not session["customer_details"]["address"]:
            raise invalid_request(
                "A billing address is needed to calculate tax: pass the customer's country.",
                param="country",
            )
        params = data.session_params[session_id]
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
        pi_params = {k: v for k, v in pi_params.items() if v is not None}
        pi = self.create_payment_intent(ctx, pi_params)
        try:
            self._confirm(ctx, pi, False, session.get("success_url"))
        except ApiError:
            session["customer_details"] = None
            raise
        if pi["status"] == "requires_action":  # the challenge on the hosted page, passed
            self.authenticate(pi["id"], True)
        session["payment_intent"] = pi["id"]
        session["status"] = "complete"
        session["payment_status"] = "paid"
        self.emit(ctx, account, "checkout.session.completed", session)
        return session

    def session_account(self, session_id: str) -> str | None:
        return self.sessions.get(session_id)

    # -- events ----------------------------------------------------------------------------
    def retrieve_event(self, ctx: Ctx, event_id: str) -> Obj:
        if event_id not in self.data(ctx.account).events:
            raise no_such("event", event_id)
        return self.events[event_id]

    def list_events(self, ctx: Ctx, params: Obj) -> Obj:
        items = [self.events[e] for e in self.data(ctx.account).events]
        if params.get("type"):
            pattern = str(params["type"])
            if pattern.endswith("*"):
                items = [e for e in items if e["type"].startswith(pattern[:-1])]
            else:
                items = [e for e in items if e["type"] == pattern]
        return self._list(items, params, "/v1/events")


class OAuthError(Exception):
    """OAuth errors have their own shape: `{"error": "...", "error_description": "..."}`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> Obj:
        return {"error": self.error, "error_description": self.description}
