"""Gateway events, applied exactly once: replays are ignored by event id, and order does not
matter because state is re-read. A completed checkout applies its client action (credits, an
upgrade, a number) with its receipt; a PaymentIntent event settles an invoice attempt whose
answer a crashed or timed-out charge never recorded; `account.updated` refreshes the link."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from rebill.domain.charges import HeldNumber, PlanChange, number_rental_charge, plan_change_charge
from rebill.domain.errors import GatewayError
from rebill.domain.gateway import ChargeOutcome, PaymentAttempt
from rebill.domain.tax import TaxPolicy
from rebill.services.invoicing.billing import add_credits, issue_receipt
from rebill.services.payments.collect import apply_outcome, payment_event, refund_duplicates
from rebill.services.payments.gateway import STRIPE, GatewayContext, agency_of, require_gateway
from rebill.services.ports import Store, UnitOfWorkFactory

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
    uow = uow_factory()
    with uow:
        store = uow.store
        if not store.record_gateway_event("stripe", event_id, event_type, account, now):
            return "replay ignored"
        agency_id = store.agency_for_account(account) if account else None
        outcome = "ignored"
        if agency_id and event_type in CHECKOUT_EVENTS:
            session = event.get("data", {}).get("object", {})
            if session.get("payment_status", "paid") in ("paid", "no_payment_required"):
                outcome = _apply_checkout(store, context, agency_id, session, now)
            else:  # a bank debit on its way: `async_payment_succeeded` applies it
                outcome = "awaiting payment"
        elif agency_id and event_type == "account.updated":
            status = require_gateway(context).account_status(str(account))  # the current state
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
        elif event_type in PAYMENT_EVENTS:
            # The platform's own events (wholesale invoices) carry no `account`.
            intent = event.get("data", {}).get("object", {})
            outcome = payment_event(store, event_type, intent, account, now)
        uow.commit()
    if agency_id or event_type in PAYMENT_EVENTS:
        # A payment that found its invoice paid already goes back now, after the commit.
        try:
            refund_duplicates(uow_factory, context, now, [agency_id] if agency_id else None)
        except GatewayError:  # kept `duplicate`: `rebill serve`'s worker asks again
            logger.warning("a duplicate payment could not be refunded yet", exc_info=True)
    return outcome


def _apply_checkout(
    store: Store,
    context: GatewayContext,
    agency_id: str,
    session: dict[str, Any],
    now: datetime,
) -> str:
    checkout = store.checkout(agency_id, str(session.get("id")), for_update=True)
    if checkout is None:
        return "unknown checkout"
    if checkout["applied"]:
        return "already applied"
    agency = agency_of(store, agency_id)
    sub_id = checkout["sub_account"]
    details = session.get("total_details") or {}
    # The tax Stripe finally charged (0 is a real answer); the estimate only when it is absent.
    tax_minor = int(details["amount_tax"] if "amount_tax" in details else checkout["tax_minor"])
    tax = _session_tax(agency.tax, session, tax_minor)
    receipt: str | None = None
    result = f"{checkout['action']} applied"
    if checkout["action"] == "invoice":
        result = _pay_invoice(store, agency_id, checkout, session, now)
    elif checkout["action"] == "credits":
        receipt, _ = add_credits(
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
            receipt = issue_receipt(store, agency, sub_id, charge, now, tax_minor, "stripe", tax)
    elif checkout["action"] == "number":
        number = HeldNumber(_next_number(store, agency_id), checkout["detail"], now, None)
        store.add_number(agency_id, sub_id, number)
        history = store.plan_history_of(agency_id, sub_id)
        held = store.numbers(agency_id).get(sub_id, [])
        charge = number_rental_charge(number, held, history, agency.tz)
        if charge is not None:
            receipt = issue_receipt(store, agency, sub_id, charge, now, tax_minor, "stripe", tax)
    if receipt and session.get("payment_intent"):
        # What paid the receipt, so that a refund can go back through it.
        paid = PaymentAttempt(
            receipt,
            1,
            f"checkout:{checkout['id']}",
            STRIPE,
            _account_of(store, agency_id),
            int(session.get("amount_total") or 0),
            "succeeded",
            str(session["payment_intent"]),
        )
        store.save_payment(agency_id, paid, now)
    account = _account_of(store, agency_id)
    if session.get("payment_intent") and session.get("customer"):
        # The card the client paid with, kept for the off-session charge of its invoices.
        try:
            card = require_gateway(context).card_of_payment(account, str(session["payment_intent"]))
        except GatewayError:  # the purchase stands; the card is saved at the next checkout
            logger.warning("could not read the card of %s", session["payment_intent"])
            card = None
        if card is not None:
            store.save_gateway_customer(agency_id, sub_id, STRIPE, account, card, now)
    store.complete_checkout(agency_id, checkout["id"], now)
    return result


def _pay_invoice(
    store: Store,
    agency_id: str,
    checkout: dict[str, Any],
    session: dict[str, Any],
    now: datetime,
) -> str:
    """A client paid an open invoice on the hosted page: one more attempt, succeeded. If the
    invoice was paid meanwhile (an off-session charge), this one is a duplicate and goes back
    (`refund_duplicates`, right after this event's commit)."""
    number, intent = str(checkout["detail"]), str(session.get("payment_intent") or "")
    agency = agency_of(store, agency_id)
    store.lock_invoice(agency_id, number)
    serial = len(store.payments_of(agency_id, number, for_update=True)) + 1
    attempt = PaymentAttempt(
        number,
        serial,
        f"checkout:{checkout['id']}",
        STRIPE,
        _account_of(store, agency_id),
        int(session.get("amount_total") or 0),
        "pending",
        intent,
    )
    store.save_payment(agency_id, attempt, now)
    done = apply_outcome(store, agency, number, serial, ChargeOutcome("succeeded", intent), now)
    return "invoice paid" if done.status == "succeeded" else "invoice paid already: refunding"


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


def _account_of(store: Store, agency_id: str) -> str | None:
    link = store.gateway_link(agency_id)
    return link[1] if link else None
