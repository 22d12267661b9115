"""Payment gateway use cases: link an agency's gateway, report its Stripe Tax readiness, open a
hosted checkout for a client action (credits, plan upgrade, number rental), and apply gateway
events exactly once (replays ignored by event id; order does not matter: state is re-read).

Linking: an agency links Stripe only through Connect, an Account Link (onboarding an Express
account the platform creates) or OAuth (an existing Standard account it proves it owns), each
carrying a single-use state bound to the panel session that started it (`services.link_state`).
Linking an account by its id (`link_gateway` with an account) is the operator's (CLI) alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlsplit

from rebill.domain.account import Agency, SubAccount
from rebill.domain.charges import (
    HeldNumber,
    PlanChange,
    plan_at,
    prorated,
)
from rebill.domain.errors import (
    ConflictError,
    FieldError,
    GatewayError,
    NotFoundError,
    TaxNotConfiguredError,
    ValidationError,
)
from rebill.domain.gateway import (
    CHECKOUT_ACTIONS,
    CheckoutRequest,
    SavedCard,
    TaxReadiness,
    application_fee_minor,
    resolve_tax_behavior,
    tax_readiness,
)
from rebill.domain.limits import credit_purchase_max_units, credit_purchase_min_units
from rebill.domain.link_state import (
    PURPOSE_OAUTH,
    PURPOSE_ONBOARD_REFRESH,
    PURPOSE_ONBOARD_RETURN,
)
from rebill.domain.money import (
    MICROS_PER_UNIT,
    format_minor,
    micros_per_minor,
    micros_to_minor,
    to_micros,
)
from rebill.domain.plan import NUMBER_TYPES, UNLIMITED, Limits, Plan
from rebill.services.accounts.tenant import open_agency, require_sub_account
from rebill.services.payments.link_state import accept_state, issue_state, new_nonce
from rebill.services.ports import (
    AgencyView,
    Checkout,
    GatewayCustomer,
    GatewayLink,
    PaymentGateway,
    UnitOfWorkFactory,
)

STRIPE = "stripe"
MANUAL = "manual"  # built in: payments recorded by an agency user, no adapter


@dataclass(frozen=True)
class GatewayContext:
    """The payment gateways this server has, by provider name (bootstrap registers them; a
    new provider is a new adapter registered there, nothing else), and where they send
    people back to."""

    gateways: Mapping[str, PaymentGateway]
    public_url: str
    # Signs the states of onboarding and OAuth return URLs: REBILL_SECRET_KEY, never the
    # Stripe key; empty means the secret rebill generates and stores in the database.
    signing_secret: str = ""

    @property
    def gateway(self) -> PaymentGateway | None:
        """Stripe's adapter: Connect onboarding, Stripe Tax and the Connect webhook."""
        return self.gateways.get(STRIPE)

    @property
    def providers(self) -> list[str]:
        """What an agency can link: the manual gateway, Stripe, and any registered adapter."""
        return sorted({MANUAL, STRIPE, *self.gateways})


def linked_account(tenant: AgencyView, charging: bool = False) -> tuple[str, str]:
    """(provider, account) of the gateway account the agency's clients pay through; with
    `charging`, only once that account can take charges."""
    agency_id = tenant.agency_id
    link = tenant.gateway.link()
    if link is None or link.provider == MANUAL or not link.account_id:
        raise ConflictError(
            f"agency {agency_id!r} has no Stripe account linked (nor another gateway's): "
            "link one with `rebill gateway link`; the manual gateway takes payments "
            "outside rebill (`rebill credits add`, `rebill invoices pay`)"
        )
    if charging and not link.charges_enabled:
        raise ConflictError(
            f"the {link.provider} account {link.account_id} of agency {agency_id!r} cannot "
            f"take charges yet: finish its onboarding (rebill gateway onboard --agency "
            f"{agency_id})"
        )
    return link.provider, link.account_id


def _stripe_account(link: GatewayLink | None) -> str | None:
    """The Stripe account linked, if the agency's link is one."""
    return link.account_id if link and link.provider == STRIPE and link.account_id else None


def require_gateway(context: GatewayContext, provider: str = STRIPE) -> PaymentGateway:
    found = context.gateways.get(provider)
    if found is None:
        hint = (
            "set REBILL_STRIPE_SECRET_KEY (and REBILL_STRIPE_API_BASE for the test server)"
            if provider == STRIPE
            else f"no {provider} gateway is configured on this server"
        )
        raise GatewayError(provider, "not_configured", hint, retryable=False)
    return found


def link_gateway(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    provider: str,
    account_id: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Link the agency to `account_id` on `provider` (or to the manual gateway). Nothing here
    proves that the agency owns the account: an account id is the platform's to link (the
    CLI); the panel offers only the manual gateway, Account Links and OAuth."""
    if provider not in context.providers:
        raise ValidationError(
            [
                FieldError(
                    "--provider",
                    f"{provider!r} is not one of {', '.join(context.providers)}",
                    "provider",
                )
            ]
        )
    charges_enabled = details_submitted = provider == MANUAL
    if provider == MANUAL:
        account_id = None
    else:
        if provider == STRIPE and not (account_id or "").startswith("acct_"):
            raise ValidationError(
                [FieldError("--account", "a Stripe account id like acct_…", "account")]
            )
        if not account_id:
            raise ValidationError(
                [FieldError("--account", f"the agency's {provider} account id", "account")]
            )
        status = require_gateway(context, provider).account_status(account_id)
        charges_enabled, details_submitted = status.charges_enabled, status.details_submitted
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        holder = uow.platform.agencies.for_gateway_account(account_id) if account_id else None
        if holder and holder != agency_id:
            raise ConflictError(f"{account_id} is linked to agency {holder!r}")
        link = GatewayLink(provider, account_id, charges_enabled, details_submitted)
        tenant.gateway.save_link(link, now)
        uow.commit()
    return gateway_status(uow_factory, context, agency_id)


# -- onboarding: Account Links for accounts the platform creates, OAuth for existing ones ----
# `session_sha256` is the SHA-256 of the panel session's token that started (or, on the way
# back, presents) a flow; None when the operator started it from the CLI.
def onboarding_urls(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    session_sha256: str | None,
    now: datetime,
) -> tuple[str, str]:
    """(refresh_url, return_url) of an Account Link; their states share one nonce, so
    whichever comes back first uses up both."""
    nonce = new_nonce()
    refresh, back = (
        quote(
            issue_state(
                uow_factory, context.signing_secret, agency_id, purpose, session_sha256, now, nonce
            )
        )
        for purpose in (PURPOSE_ONBOARD_REFRESH, PURPOSE_ONBOARD_RETURN)
    )
    base = context.public_url
    return f"{base}/connect/refresh?state={refresh}", f"{base}/connect/return?state={back}"


def onboard(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    country: str,
    email: str | None,
    now: datetime,
    *,
    session_sha256: str | None,
) -> dict[str, Any]:
    """Create the agency's Express account on the platform (unless one is linked and not yet
    onboarded) and an Account Link to finish onboarding on Stripe."""
    if len(country) != 2 or not country.isalpha():
        raise ValidationError(
            [FieldError("--country", "a two-letter country code, e.g. US or DE", "country")]
        )
    gateway = require_gateway(context)
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        link = tenant.gateway.link()
    linked = _stripe_account(link)
    if link and linked and link.details_submitted:
        raise ConflictError(
            f"agency {agency_id!r} is linked to {linked}, which is onboarded already "
            "(rebill gateway status)"
        )
    if link and linked:
        account, charges = linked, link.charges_enabled
    else:
        status = gateway.create_account(country, email)
        account, charges = status.account_id, status.charges_enabled
        with uow_factory() as uow:
            uow.for_agency(agency_id).gateway.save_link(
                GatewayLink(STRIPE, account, charges, False), now
            )
            uow.commit()
    refresh_url, return_url = onboarding_urls(uow_factory, context, agency_id, session_sha256, now)
    url = gateway.account_link(account, refresh_url, return_url)
    return {"agency": agency_id, "account": account, "charges_enabled": charges, "url": url}


def onboarding_link(
    context: GatewayContext,
    uow_factory: UnitOfWorkFactory,
    state: str,
    now: datetime,
    *,
    session_sha256: str | None,
) -> str:
    """A fresh Account Link (with fresh states, bound as the used one was) for a refresh URL:
    the old link expired or was used; only while the account is not onboarded."""
    used = accept_state(
        uow_factory, context.signing_secret, state, PURPOSE_ONBOARD_REFRESH, session_sha256, now
    )
    with uow_factory() as uow:
        link = uow.for_agency(used.agency_id).gateway.link()
    account = _stripe_account(link)
    if link is None or account is None:
        raise NotFoundError(f"agency {used.agency_id!r} has no Stripe account to onboard")
    if link.details_submitted:
        raise ConflictError(f"{account} is onboarded already")
    bound = session_sha256 if used.session_bound else None
    refresh_url, return_url = onboarding_urls(uow_factory, context, used.agency_id, bound, now)
    return require_gateway(context).account_link(account, refresh_url, return_url)


def refresh_link(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    state: str,
    now: datetime,
    *,
    session_sha256: str | None,
) -> dict[str, Any]:
    """The return URL of onboarding: re-read the account (charges enabled, details)."""
    agency_id = accept_state(
        uow_factory, context.signing_secret, state, PURPOSE_ONBOARD_RETURN, session_sha256, now
    ).agency_id
    with uow_factory() as uow:
        account = _stripe_account(uow.for_agency(agency_id).gateway.link())
    if account is None:
        raise NotFoundError(f"agency {agency_id!r} has no Stripe account linked")
    status = require_gateway(context).account_status(account)
    with uow_factory() as uow:
        link = GatewayLink(STRIPE, account, status.charges_enabled, status.details_submitted)
        uow.for_agency(agency_id).gateway.save_link(link, now)
        uow.commit()
    return gateway_status(uow_factory, context, agency_id)


def oauth_url(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    now: datetime,
    *,
    session_sha256: str | None,
) -> str:
    """Where an agency with its own Standard account authorizes the platform."""
    with uow_factory() as uow:
        open_agency(uow, agency_id)
    state = issue_state(
        uow_factory, context.signing_secret, agency_id, PURPOSE_OAUTH, session_sha256, now
    )
    return require_gateway(context).oauth_url(state, f"{context.public_url}/connect/oauth/callback")


def oauth_complete(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    state: str,
    code: str,
    now: datetime,
    *,
    session_sha256: str | None,
) -> dict[str, Any]:
    """The OAuth callback: the state is checked and used up, then the code is exchanged."""
    _require_code(code)
    used = accept_state(
        uow_factory, context.signing_secret, state, PURPOSE_OAUTH, session_sha256, now
    )
    return link_oauth_code(uow_factory, context, used.agency_id, code, now)


def _require_code(code: str) -> None:
    if not code.startswith("ac_"):
        raise ValidationError([FieldError("code", "an authorization code like ac_…", "code")])


def link_oauth_code(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    code: str,
    now: datetime,
) -> dict[str, Any]:
    """Exchange the authorization code and link the account it stands for (the callback, or
    the operator's `rebill gateway oauth-complete`). An agency whose account already takes
    charges is not relinked this way (an operator relinks it with `rebill gateway link`)."""
    _require_code(code)
    with uow_factory() as uow:
        link = uow.for_agency(agency_id).gateway.link()
    account = require_gateway(context).oauth_exchange(code)
    linked = _stripe_account(link)
    if link and linked and linked != account and link.charges_enabled:
        raise ConflictError(
            f"agency {agency_id!r} is linked to {linked}, which takes charges; it is not "
            f"replaced by {account} through OAuth (an operator can: rebill gateway link)"
        )
    return link_gateway(uow_factory, context, agency_id, "stripe", account, now)


def set_application_fee(
    uow_factory: UnitOfWorkFactory, agency_id: str, percent: str
) -> dict[str, Any]:
    """The platform's fee on the agency's direct charges, in percent (two decimals at most)."""
    try:
        value = Decimal(percent)
    except InvalidOperation:
        value = Decimal(-1)
    bps = value * 100
    if not value.is_finite() or not 0 <= value <= 100 or bps != bps.to_integral_value():
        raise ValidationError(
            [
                FieldError(
                    "--percent",
                    f"{percent!r} is not a percentage from 0 to 100 with at most two decimals",
                    "percent",
                )
            ]
        )
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        if not tenant.gateway.set_application_fee_bps(int(bps)):
            raise ConflictError(f"agency {agency_id!r} has no gateway linked yet")
        uow.commit()
    return {"agency": agency_id, "application_fee_percent": str(value.normalize())}


def readiness(tenant: AgencyView, context: GatewayContext, agency: Agency) -> TaxReadiness:
    account = _stripe_account(tenant.gateway.link())
    if agency.tax.mode != "stripe":
        return tax_readiness(agency.tax.mode, None)
    if account is None:
        return tax_readiness("stripe", None)
    return tax_readiness("stripe", require_gateway(context).tax_settings(account))


def gateway_status(
    uow_factory: UnitOfWorkFactory, context: GatewayContext, agency_id: str
) -> dict[str, Any]:
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        link = tenant.gateway.link()
        tax = readiness(tenant, context, agency)
        fee_bps = tenant.gateway.application_fee_bps()
    return {
        "provider": link.provider if link else None,
        "account": link.account_id if link else None,
        "charges_enabled": link.charges_enabled if link else False,
        "details_submitted": link.details_submitted if link else False,
        "application_fee_percent": str((Decimal(fee_bps) / 100).normalize()),
        "tax": tax.document(),
    }


def require_tax_ready(tenant: AgencyView, context: GatewayContext, agency: Agency) -> None:
    """Refuse before any Stripe call that would fail with a vague error."""
    _refuse_unless_ready(readiness(tenant, context, agency))


def _refuse_unless_ready(tax: TaxReadiness) -> None:
    if not tax.ready:
        raise TaxNotConfiguredError(tax.missing_fields or ["tax_settings"], tax.fixes)


def active_tax_behavior(gateway: PaymentGateway, account: str, currency: str) -> str:
    """The behaviour Stripe Tax applies on `account` (exclusive or inclusive), once its
    settings are active; `tax_not_configured`, with the missing fields and the fixes,
    otherwise."""
    settings = gateway.tax_settings(account)
    _refuse_unless_ready(tax_readiness("stripe", settings))
    return resolve_tax_behavior(settings.behavior, currency)


def agency_public_url(public_url: str, domain: str) -> str:
    """The base URL of an agency's custom domain: its stored domain, reached with the scheme
    and port of the platform's public URL (REBILL_PUBLIC_URL). Return URLs handed to Stripe
    are built from these two only, never from a request's Host header."""
    parts = urlsplit(public_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{domain}{port}"


def pay_page_url(public_url: str, agency_id: str, domain: str | None) -> str:
    """Where a client pays its open invoices: its portal's invoices page, on the agency's
    custom domain when it has one, else under the platform's public URL."""
    if domain:
        return agency_public_url(public_url, domain) + "/client/invoices"
    return f"{public_url}/portal/{agency_id}/invoices"


def create_checkout(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    sub_account_id: str,
    action: str,
    amount: str | None,
    plan_id: str | None,
    number_type: str | None,
    now: datetime,
    invoice: str | None = None,
) -> dict[str, Any]:
    """A hosted checkout for a client action: credits, a plan upgrade, a number, or paying
    one of its open invoices (`invoice`: the invoice's total, its tax already in it)."""
    if action not in CHECKOUT_ACTIONS:
        raise ValidationError(
            [
                FieldError(
                    "--action", f"{action!r} is not one of {', '.join(CHECKOUT_ACTIONS)}", "action"
                )
            ]
        )
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        sub = require_sub_account(tenant, sub_account_id)
        provider, account = linked_account(tenant)
        taxed = action != "invoice"  # an invoice carries its own tax
        if taxed:
            require_tax_ready(tenant, context, agency)
            amount_micros, detail, description = _price(
                tenant, agency, sub, action, amount, plan_id, number_type, now
            )
        else:
            amount_micros, detail, description = _open_invoice(tenant, sub, invoice)
        currency = agency.currency
        amount_minor = micros_to_minor(amount_micros, currency)
        manual_tax = 0
        if taxed and agency.tax.mode == "manual" and not agency.tax.inclusive:
            manual_tax = agency.tax.line_tax_minor(amount_minor)
        gateway = require_gateway(context, provider)
        request = CheckoutRequest(
            action=action,
            description=description,
            amount_minor=amount_minor,
            currency=currency,
            automatic_tax=taxed and agency.tax.mode == "stripe",
            tax_code=None,
            metadata={
                "rebill_agency": agency_id,
                "rebill_sub_account": sub_account_id,
                "rebill_action": action,
                "rebill_detail": detail,
            },
            success_url=f"{context.public_url}/checkout/done?session={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{context.public_url}/checkout/cancelled",
            tax_minor=manual_tax,
            # The platform's fee, on the amount before tax (tax is the agency's to remit).
            application_fee_minor=application_fee_minor(
                amount_minor, tenant.gateway.application_fee_bps()
            ),
            customer_id=_customer(tenant, gateway, provider, account, sub, now),
            save_card=True,
        )
        key = f"checkout:{agency_id}:{sub_account_id}:{action}:{detail}:{now.isoformat()}"
        session = gateway.create_checkout(account, request, key)
        tax_minor = session.tax_minor or manual_tax
        tenant.checkouts.add(
            Checkout(
                session.id, sub_account_id, action, detail, amount_minor, tax_minor, "open", False
            ),
            now,
        )
        uow.commit()
    return {
        "id": session.id,
        "url": session.url,
        "amount": format_minor(amount_minor, currency),
        "tax": format_minor(tax_minor, currency),
        "currency": currency,
        "action": action,
    }


def _open_invoice(tenant: AgencyView, sub: SubAccount, number: str | None) -> tuple[int, str, str]:
    """(total in micros, number, description) of one of the client's open invoices."""
    found = tenant.invoices.find(number=number or "")
    if not found or found[0].sub_account_id != sub.id or found[0].kind != "retail":
        raise NotFoundError(f"invoice {number!r} does not exist")
    if found[0].status != "open":
        raise ConflictError(f"{number} is {found[0].status}: there is nothing to pay")
    attempts = tenant.payments.of_invoice(found[0].number)
    if attempts and attempts[-1].status == "pending":
        raise ConflictError(
            f"a payment of {number} is on its way; its outcome is known in a few minutes"
        )
    invoice = found[0]
    return (
        invoice.total_minor * micros_per_minor(invoice.currency),
        invoice.number,
        (f"Invoice {invoice.number}"),
    )


def _customer(
    tenant: AgencyView,
    gateway: PaymentGateway,
    provider: str,
    account: str,
    sub: SubAccount,
    now: datetime,
) -> str:
    """The client's customer on the agency's account, created on its first checkout (its
    card is saved when a checkout completes)."""
    saved = tenant.gateway.customer(sub.id)
    if saved is not None and saved.provider == provider and saved.account_id == account:
        return saved.card.customer_id
    customer = gateway.create_customer(account, sub.name, sub.email or None)
    card = SavedCard(customer, "", "")
    tenant.gateway.save_customer(sub.id, GatewayCustomer(provider, account, card), now)
    return customer


def _price(
    tenant: AgencyView,
    agency: Agency,
    sub: SubAccount,
    action: str,
    amount: str | None,
    plan_id: str | None,
    number_type: str | None,
    now: datetime,
) -> tuple[int, str, str]:
    """What the client's action costs now, from its plan history, numbers and limits."""
    history = tenant.plans.history_of(sub.id)
    plan = plan_at(history, now) or (history[0].plan if history else None)
    limits = sub.limits.over(plan.limits if plan else Limits())
    held = tenant.numbers.of(sub.id)
    plans = tenant.plans.all()
    return _price_of(
        agency, history, held, limits, plans, action, amount, plan_id, number_type, now
    )


def _price_of(
    agency: Agency,
    history: list[PlanChange],
    held: list[HeldNumber],
    limits: Limits,
    plans: dict[str, Plan],
    action: str,
    amount: str | None,
    plan_id: str | None,
    number_type: str | None,
    now: datetime,
) -> tuple[int, str, str]:
    """(amount in micros, detail, description) of a client action at `now`."""
    currency = agency.currency
    if action == "credits":
        try:
            micros = to_micros(amount) if amount is not None else 0
        except (TypeError, ValueError) as exc:
            raise ValidationError([FieldError("--amount", str(exc), "amount")]) from None
        low = credit_purchase_min_units * MICROS_PER_UNIT
        high = credit_purchase_max_units * MICROS_PER_UNIT
        if not low <= micros <= high or micros % micros_per_minor(currency):
            raise ValidationError(
                [
                    FieldError(
                        "--amount",
                        f"a credit purchase is from {credit_purchase_min_units} to "
                        f"{credit_purchase_max_units} {currency}, in whole minor units",
                        "amount",
                    )
                ]
            )
        text = format_minor(micros_to_minor(micros, currency), currency)
        return micros, text, f"Credits {text} {currency}"
    current = plan_at(history, now) or (history[0].plan if history else None)
    if current is None:
        raise ConflictError("the sub-account has no plan")
    if action == "upgrade":
        target = plans.get(plan_id or "")
        if target is None:
            raise NotFoundError(f"plan {plan_id!r} does not exist")
        if not target.is_upgrade_from(current):
            raise ConflictError(
                f"{target.id} is not an upgrade from {current.id}; downgrades "
                "take effect at the next period and need no payment"
            )
        micros = prorated(target.monthly_fee_micros - current.monthly_fee_micros, now, agency.tz)
        return micros, target.id, f"Upgrade to {target.name} (prorated)"
    if number_type not in NUMBER_TYPES:
        raise ValidationError(
            [
                FieldError(
                    "--type", f"{number_type!r} is not one of {', '.join(NUMBER_TYPES)}", "type"
                )
            ]
        )
    holding = sum(1 for n in held if n.held_at(now))
    limit = limits.numbers
    if limit is not None and limit != UNLIMITED and holding >= limit:
        raise ConflictError(f"the number limit ({limit}) is reached; release a number first")
    if holding < current.included_numbers:
        raise ConflictError(
            f"the {current.name} plan includes another number: no payment is needed, rent it "
            "through the catalog"
        )
    price = current.number_monthly_micros.get(number_type, 0)
    micros = prorated(price, now, agency.tz)
    return micros, number_type, f"{number_type.replace('_', '-')} number (prorated month)"
