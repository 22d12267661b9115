"""Gateway events, applied exactly once: replays are ignored by event id, and order does not
matter because state is re-read. A completed checkout applies its client action (credits, an
upgrade, a number) with its receipt; a PaymentIntent event settles an invoice attempt whose
answer a crashed or timed-out charge never recorded; `account.updated` refreshes the link;
refunds and disputes made in the Dashboard become credit notes and dispute records
(`dashboard.py`)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from rebill.domain.account import Agency
from rebill.domain.charges import HeldNumber, PlanChange, number_rental_charge, plan_change_charge
from rebill.domain.errors import GatewayError
from rebill.domain.gateway import ChargeOutcome, PaymentAttempt
from rebill.domain.tax import TaxPolicy
from rebill.services.accounts.tenant import open_agency
from rebill.services.invoicing.billing import issue_receipt, sell_credits
from rebill.services.payments.collect import apply_outcome, payment_event, refund_duplicates
from rebill.services.payments.dashboard import (
    DISPUTE_EVENTS,
    REFUND_EVENTS,
    dashboard_refunds,
    dispute_event,
)
from rebill.services.payments.gateway import STRIPE, GatewayContext, require_gateway
from rebill.services.ports import (
    AgencyView,
    Checkout,
    GatewayCustomer,
    GatewayLink,
    UnitOfWork,
    UnitOfWorkFactory,
)

logger = logging.getLogger("rebill.gateway")
CHECKOUT_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
PAYMENT_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed")


def handle_event(
    uow_factory: UnitOfWorkFactory, context: GatewayContext, event: dict[str, Any], now: datetime
) -> str:
    """Apply one verified Stripe event; returns what happened."""
    event_id = str(event.get("id", ""))
    event_type = str(event.get("type", ""))
    account = event.get("account")
    refunded = None
    if account and event_type in REFUND_EVENTS:
        # Before the event is marked seen, outside any transaction: the refunds are read
        # again from Stripe and each is applied once by its id, so a redelivery is harmless
        # and a failure here leaves the event to be delivered again.
        with uow_factory() as uow:
            refund_agency = uow.platform.agencies.for_gateway_account(str(account))
        if refund_agency:
            charge = event.get("data", {}).get("object", {})
            refunded = dashboard_refunds(
                uow_factory, context, refund_agency, str(account), charge, now
            )
    with uow_factory() as uow:
        if not uow.platform.gateway.record_event("stripe", event_id, event_type, account, now):
            return refunded or "replay ignored"
        agency_id = uow.platform.agencies.for_gateway_account(account) if account else None
        outcome = "ignored"
        if agency_id and event_type in CHECKOUT_EVENTS:
            session = event.get("data", {}).get("object", {})
            if session.get("payment_status", "paid") in ("paid", "no_payment_required"):
                outcome = _apply_checkout(uow, context, agency_id, session, now)
            else:  # a bank debit on its way: `async_payment_succeeded` applies it
                outcome = "awaiting payment"
        elif agency_id and event_type == "account.updated":
            status = require_gateway(context).account_status(str(account))  # the current state
            link = GatewayLink(
                STRIPE, str(account), status.charges_enabled, status.details_submitted
            )
            uow.for_agency(agency_id).gateway.save_link(link, now)
            outcome = "account refreshed"
        elif agency_id and event_type == "tax.settings.updated":
            outcome = "tax settings re-read on next use"
        elif agency_id and event_type in REFUND_EVENTS:
            outcome = refunded or "ignored"
        elif agency_id and event_type in DISPUTE_EVENTS:
            dispute = event.get("data", {}).get("object", {})
            outcome = dispute_event(uow, agency_id, str(account), dispute, now)
        elif event_type in PAYMENT_EVENTS:
            # The platform's own events (wholesale invoices) carry no `account`.
            intent = event.get("data", {}).get("object", {})
            outcome = payment_event(uow, event_type, intent, account, now)
        uow.commit()
    if agency_id or event_type in PAYMENT_EVENTS:
        # A payment that found its invoice paid already goes back now, after the commit.
        try:
            refund_duplicates(uow_factory, context, now, [agency_id] if agency_id else None)
        except GatewayError:  # kept `duplicate`: `rebill serve`'s worker asks again
            logger.warning("a duplicate payment could not be refunded yet", exc_info=True)
    return outcome


def _apply_checkout(
    uow: UnitOfWork,
    context: GatewayContext,
    agency_id: str,
    session: dict[str, Any],
    now: datetime,
) -> str:
    agency, tenant = open_agency(uow, agency_id)
    checkout = tenant.checkouts.get(str(session.get("id")), for_update=True)
    if checkout is None:
        return "unknown checkout"
    if checkout.applied:
        return "already applied"
    details = session.get("total_details") or {}
    # The tax Stripe finally charged (0 is a real answer); the estimate only when it is absent.
    tax_minor = int(details.get("amount_tax", checkout.tax_minor))
    tax = _session_tax(agency.tax, session, tax_minor)
    result = f"{checkout.action} applied"
    receipt: str | None = None
    if checkout.action == "invoice":
        result = _pay_invoice(tenant, agency, checkout, session, now)
    else:
        receipt = _apply_action(tenant, agency, checkout, now, tax_minor, tax)
    account = _account_of(tenant)
    if receipt and session.get("payment_intent"):
        # What paid the receipt, so that a refund can go back through it.
        paid = PaymentAttempt(
            receipt,
            1,
            f"checkout:{checkout.id}",
            STRIPE,
            account,
            int(session.get("amount_total") or 0),
            "succeeded",
            str(session["payment_intent"]),
        )
        tenant.payments.save(paid, now)
    if session.get("payment_intent") and session.get("customer"):
        _keep_card(tenant, context, checkout.sub_account_id, account, session, now)
    tenant.checkouts.complete(checkout.id, now)
    return result


def _apply_action(
    tenant: AgencyView,
    agency: Agency,
    checkout: Checkout,
    now: datetime,
    tax_minor: int,
    tax: TaxPolicy,
) -> str | None:
    """The client's action paid by the checkout (credits, an upgrade, a number), and the
    number of its receipt."""
    sub_id = checkout.sub_account_id
    if checkout.action == "credits":
        receipt, _ = sell_credits(
            tenant, agency, sub_id, checkout.detail, now, checkout.id, tax_minor, STRIPE, tax
        )
        return receipt
    if checkout.action == "upgrade":
        history = tenant.plans.history_of(sub_id)
        plan = tenant.plans.all({checkout.detail})[checkout.detail]
        change = PlanChange(now, plan, "upgrade")
        tenant.plans.drop_changes_after(sub_id, now)
        tenant.plans.add_change(sub_id, change, now)
        charge = plan_change_charge([*history, change], len(history), agency.tz)
    elif checkout.action == "number":
        number = HeldNumber(_next_number(tenant), checkout.detail, now, None)
        tenant.numbers.add(sub_id, number)
        history = tenant.plans.history_of(sub_id)
        held = tenant.numbers.all().get(sub_id, [])
        charge = number_rental_charge(number, held, history, agency.tz)
    else:
        return None
    if charge is None:
        return None
    return issue_receipt(tenant, agency, sub_id, charge, now, tax_minor, STRIPE, tax)


def _keep_card(
    tenant: AgencyView,
    context: GatewayContext,
    sub_id: str,
    account: str | None,
    session: dict[str, Any],
    now: datetime,
) -> None:
    """The card the client paid with, kept for the off-session charge of its invoices."""
    try:
        card = require_gateway(context).card_of_payment(account, str(session["payment_intent"]))
    except GatewayError:  # the purchase stands; the card is saved at the next checkout
        logger.warning("could not read the card of %s", session["payment_intent"])
        return
    if card is not None:
        tenant.gateway.save_customer(sub_id, GatewayCustomer(STRIPE, account, card), now)


def _pay_invoice(
    tenant: AgencyView,
    agency: Agency,
    checkout: Checkout,
    session: dict[str, Any],
    now: datetime,
) -> str:
    """A client paid an open invoice on the hosted page: one more attempt, succeeded. If the
    invoice was paid meanwhile (an off-session charge), this one is a duplicate and goes back
    (`refund_duplicates`, right after this event's commit)."""
    number, intent = checkout.detail, str(session.get("payment_intent") or "")
    tenant.invoices.lock(number)
    serial = len(tenant.payments.of_invoice(number, for_update=True)) + 1
    attempt = PaymentAttempt(
        number,
        serial,
        f"checkout:{checkout.id}",
        STRIPE,
        _account_of(tenant),
        int(session.get("amount_total") or 0),
        "pending",
        intent,
    )
    tenant.payments.save(attempt, now)
    done = apply_outcome(tenant, agency, number, serial, ChargeOutcome("succeeded", intent), now)
    return "invoice paid" if done.status == "succeeded" else "invoice paid already: refunding"


def _session_tax(policy: TaxPolicy, session: dict[str, Any], tax_minor: int) -> TaxPolicy:
    """The behaviour Stripe applied: inclusive when the tax sits inside the total."""
    if policy.mode != "stripe":
        return policy
    subtotal, total = session.get("amount_subtotal"), session.get("amount_total")
    inclusive = tax_minor > 0 and subtotal is not None and subtotal == total
    return replace(policy, behavior="inclusive" if inclusive else "exclusive")


def _next_number(tenant: AgencyView) -> str:
    """A number from the agency's test range (the voice platform assigns real ones)."""
    taken = {n.e164 for group in tenant.numbers.all().values() for n in group}
    serial = len(taken) + 1
    while f"+1555900{serial:04d}" in taken:
        serial += 1
    return f"+1555900{serial:04d}"


def _account_of(tenant: AgencyView) -> str | None:
    link = tenant.gateway.link()
    return link.account_id if link else None
