"""Payment gateway use cases: link an agency's gateway, report its Stripe Tax readiness, open a
hosted checkout for a client action (credits, plan upgrade, number rental), and apply gateway
events exactly once (replays ignored by event id; order does not matter: state is re-read)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from rebill.domain.account import Agency
from rebill.domain.charges import (
    HeldNumber,
    PlanChange,
    number_rental_charge,
    plan_at,
    plan_change_charge,
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
    PROVIDERS,
    CheckoutRequest,
    TaxReadiness,
    tax_readiness,
)
from rebill.domain.money import (
    MICROS_PER_UNIT,
    format_minor,
    micros_per_minor,
    micros_to_minor,
    to_micros,
)
from rebill.domain.plan import NUMBER_TYPES, UNLIMITED, Limits, Plan
from rebill.domain.tax import TaxPolicy
from rebill.services.billing import add_credits, issue_receipt
from rebill.services.ports import PaymentGateway, Store, UnitOfWorkFactory

# Bounds of a credit purchase through checkout, in currency units.
credit_purchase_min_units = 5
credit_purchase_max_units = 1_000


@dataclass(frozen=True)
class GatewayContext:
    gateway: PaymentGateway | None
    public_url: str


def _agency(store: Store, agency_id: str) -> Agency:
    agency = store.get_agency(agency_id)
    if agency is None:
        raise NotFoundError(f"agency {agency_id!r} does not exist")
    return agency


def _stripe(context: GatewayContext) -> PaymentGateway:
    if context.gateway is None:
        raise GatewayError(
            "stripe",
            "not_configured",
            "set REBILL_STRIPE_SECRET_KEY (and REBILL_STRIPE_API_BASE for the test server)",
            retryable=False,
        )
    return context.gateway


def link_gateway(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    provider: str,
    account_id: str | None,
    now: datetime,
) -> dict[str, Any]:
    if provider not in PROVIDERS:
        raise ValidationError(
            [
                FieldError(
                    "--provider", f"{provider!r} is not one of {', '.join(PROVIDERS)}", "provider"
                )
            ]
        )
    charges_enabled = details_submitted = provider == "manual"
    if provider == "stripe":
        if not account_id or not account_id.startswith("acct_"):
            raise ValidationError(
                [FieldError("--account", "a Stripe account id like acct_…", "account")]
            )
        status = _stripe(context).account_status(account_id)
        charges_enabled, details_submitted = status.charges_enabled, status.details_submitted
    else:
        account_id = None
    uow = uow_factory()
    with uow:
        _agency(uow.store, agency_id)
        holder = uow.store.agency_for_account(account_id) if account_id else None
        if holder and holder != agency_id:
            raise ConflictError(f"{account_id} is linked to agency {holder!r}")
        uow.store.save_gateway_link(
            agency_id, provider, account_id, charges_enabled, details_submitted, now
        )
        uow.commit()
    return gateway_status(uow_factory, context, agency_id)


def readiness(store: Store, context: GatewayContext, agency: Agency) -> TaxReadiness:
    link = store.gateway_link(agency.id)
    if agency.tax.mode != "stripe":
        return tax_readiness(agency.tax.mode, None)
    if link is None or link[0] != "stripe" or not link[1]:
        return tax_readiness("stripe", None)
    return tax_readiness("stripe", _stripe(context).tax_settings(link[1]))


def gateway_status(
    uow_factory: UnitOfWorkFactory, context: GatewayContext, agency_id: str
) -> dict[str, Any]:
    with uow_factory() as uow:
        agency = _agency(uow.store, agency_id)
        link = uow.store.gateway_link(agency_id)
        tax = readiness(uow.store, context, agency)
    provider, account, charges, _details = link or (None, None, False, False)
    return {
        "provider": provider,
        "account": account,
        "charges_enabled": charges,
        "tax": tax.document(),
    }


def require_tax_ready(store: Store, context: GatewayContext, agency: Agency) -> None:
    """Refuse before any Stripe call that would fail with a vague error."""
    tax = readiness(store, context, agency)
    if not tax.ready:
        raise TaxNotConfiguredError(tax.missing_fields or ["tax_settings"], tax.fixes)


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
) -> dict[str, Any]:
    if action not in CHECKOUT_ACTIONS:
        raise ValidationError(
            [
                FieldError(
                    "--action", f"{action!r} is not one of {', '.join(CHECKOUT_ACTIONS)}", "action"
                )
            ]
        )
    uow = uow_factory()
    with uow:
        store = uow.store
        agency = _agency(store, agency_id)
        if store.get_sub_account(agency_id, sub_account_id) is None:
            raise NotFoundError(
                f"sub-account {sub_account_id!r} does not exist in agency {agency_id!r}"
            )
        link = store.gateway_link(agency_id)
        if link is None or link[0] != "stripe" or not link[1]:
            raise ConflictError(
                f"agency {agency_id!r} has no Stripe account linked; the "
                "manual gateway takes payments outside rebill (`rebill "
                "credits add`)"
            )
        require_tax_ready(store, context, agency)
        history = store.plan_history_of(agency_id, sub_account_id)
        plans = store.plans(agency_id)
        amount_micros, detail, description = _price(
            agency,
            history,
            store.numbers_of(agency_id, sub_account_id),
            _limits(store, agency_id, sub_account_id, history, now),
            plans,
            action,
            amount,
            plan_id,
            number_type,
            now,
        )
        currency = agency.currency
        amount_minor = micros_to_minor(amount_micros, currency)
        manual_tax = 0
        if agency.tax.mode == "manual" and not agency.tax.inclusive:
            manual_tax = agency.tax.line_tax_minor(amount_minor)
        request = CheckoutRequest(
            action=action,
            description=description,
            amount_minor=amount_minor,
            currency=currency,
            automatic_tax=agency.tax.mode == "stripe",
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
        )
        key = f"checkout:{agency_id}:{sub_account_id}:{action}:{detail}:{now.isoformat()}"
        session = _stripe(context).create_checkout(link[1], request, key)
        tax_minor = session.tax_minor or manual_tax
        store.save_checkout(
            agency_id, session.id, sub_account_id, action, detail, amount_minor, tax_minor, now
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


def _price(
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


def handle_event(
    uow_factory: UnitOfWorkFactory, context: GatewayContext, event: dict[str, Any], now: datetime
) -> str:
    """Apply one verified Stripe event; returns what happened."""
    event_id = str(event.get("id", ""))
    event_type = str(event.get("type", ""))
    account = event.get("account")
    uow = uow_factory()
    with uow:
        store = uow.store
        if not store.record_gateway_event("stripe", event_id, event_type, account, now):
            return "replay ignored"
        agency_id = store.agency_for_account(account) if account else None
        outcome = "ignored"
        if agency_id and event_type == "checkout.session.completed":
            session = event.get("data", {}).get("object", {})
            outcome = _apply_checkout(store, agency_id, session, now)
        elif agency_id and event_type == "account.updated":
            status = _stripe(context).account_status(str(account))  # the current state
            store.save_gateway_link(
                agency_id,
                "stripe",
                str(account),
                status.charges_enabled,
                status.details_submitted,
                now,
            )
            outcome = "account refreshed"
        elif agency_id and event_type == "tax.settings.updated":
            outcome = "tax settings re-read on next use"
        uow.commit()
    return outcome


def _apply_checkout(store: Store, agency_id: str, session: dict[str, Any], now: datetime) -> str:
    checkout = store.checkout(agency_id, str(session.get("id")), for_update=True)
    if checkout is None:
        return "unknown checkout"
    if checkout["applied"]:
        return "already applied"
    agency = _agency(store, agency_id)
    sub_id = checkout["sub_account"]
    details = session.get("total_details") or {}
    # The tax Stripe finally charged (0 is a real answer); the estimate only when it is absent.
    tax_minor = int(details["amount_tax"] if "amount_tax" in details else checkout["tax_minor"])
    tax = _session_tax(agency.tax, session, tax_minor)
    if checkout["action"] == "credits":
        add_credits(
            store,
            agency_id,
            sub_id,
            checkout["detail"],
            now,
            checkout["id"],
            tax_minor,
            "stripe",
            tax,
        )
    elif checkout["action"] == "upgrade":
        history = store.plan_history_of(agency_id, sub_id)
        plan = store.plans(agency_id, {checkout["detail"]})[checkout["detail"]]
        change = PlanChange(now, plan, "upgrade")
        store.drop_future_changes(agency_id, sub_id, now)
        store.add_plan_change(agency_id, sub_id, change, now)
        charge = plan_change_charge([*history, change], len(history), agency.tz)
        if charge is not None:
            issue_receipt(store, agency, sub_id, charge, now, tax_minor, "stripe", tax)
    else:
        number = HeldNumber(_next_number(store, agency_id), checkout["detail"], now, None)
        store.add_number(agency_id, sub_id, number)
        history = store.plan_history_of(agency_id, sub_id)
        held = store.numbers(agency_id).get(sub_id, [])
        charge = number_rental_charge(number, held, history, agency.tz)
        if charge is not None:
            issue_receipt(store, agency, sub_id, charge, now, tax_minor, "stripe", tax)
    store.complete_checkout(agency_id, checkout["id"], now)
    return f"{checkout['action']} applied"


def _limits(
    store: Store, agency_id: str, sub_account_id: str, history: list[PlanChange], now: datetime
) -> Limits:
    """The sub-account's overrides on top of its current plan's limits."""
    sub = store.get_sub_account(agency_id, sub_account_id)
    plan = plan_at(history, now) or (history[0].plan if history else None)
    base = plan.limits if plan else Limits()
    return sub.limits.over(base) if sub else base


def _session_tax(policy: TaxPolicy, session: dict[str, Any], tax_minor: int) -> TaxPolicy:
    """The behaviour Stripe applied: inclusive when the tax sits inside the total."""
    if policy.mode != "stripe":
        return policy
    subtotal, total = session.get("amount_subtotal"), session.get("amount_total")
    inclusive = tax_minor > 0 and subtotal is not None and subtotal == total
    return replace(policy, behavior="inclusive" if inclusive else "exclusive")


def _next_number(store: Store, agency_id: str) -> str:
    """A number from the agency's test range (the voice platform assigns real ones)."""
    taken = {n.e164 for group in store.numbers(agency_id).values() for n in group}
    serial = len(taken) + 1
    while f"+1555900{serial:04d}" in taken:
        serial += 1
    return f"+1555900{serial:04d}"
