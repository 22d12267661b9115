"""Collecting invoices through a gateway: saved cards, off-session charges of finalized invoices
(a retail invoice on the agency's connected account, a wholesale invoice on the platform's own
account), and refunds that produce credit notes.

Every gateway call sits between two short transactions, never inside one: the first records
what is about to be asked (a `pending` attempt with its idempotency key), the second records
the answer. An attempt whose answer never came (a crash, a timeout after the SDK's retries)
stays `pending` and the next run asks again with the same key, so Stripe charges once."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from rebill.domain.account import Agency
from rebill.domain.errors import (
    BillingError,
    ConflictError,
    FieldError,
    GatewayError,
    NotFoundError,
    ValidationError,
)
from rebill.domain.gateway import (
    ChargeOutcome,
    ChargeRequest,
    PaymentAttempt,
    application_fee_minor,
    payment_key,
    refund_tax_minor,
)
from rebill.domain.invoice import InvoiceDraft
from rebill.domain.ledger import Accounts, JournalEntry
from rebill.domain.limits import credit_purchase_max_units
from rebill.domain.money import MICROS_PER_UNIT, format_minor, micros_per_minor, to_micros
from rebill.domain.tax import TaxPolicy
from rebill.services.invoicing.billing import (
    MANUAL,
    add_credits,
    finalize,
    payment_entry,
    stored_invoice,
)
from rebill.services.notifications.webhooks import emit
from rebill.services.payments.gateway import (
    STRIPE,
    GatewayContext,
    active_tax_behavior,
    agency_of,
    linked_account,
    require_gateway,
)
from rebill.services.ports import Store, StoredInvoice, UnitOfWorkFactory

# The agency itself, as the platform's customer (it pays the wholesale invoices).
AGENCY_PARTY = ""
COLLECTABLE = ("retail", "wholesale")
# Attempt states nothing changes any more: paid; paid twice (to give back); given back.
FINAL = ("succeeded", "duplicate", "returned")
REFUNDABLE = ("retail", "receipt")


# -- saved cards -------------------------------------------------------------------------------
def save_card(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    sub_account_id: str | None,
    payment_method: str,
    now: datetime,
) -> dict[str, Any]:
    """Save a payer's card: a sub-account's on its agency's connected account, or (without a
    sub-account) the agency's own on the platform's account, for its wholesale invoices."""
    with uow_factory() as uow:
        agency = agency_of(uow.store, agency_id)
        if sub_account_id:
            sub = uow.store.get_sub_account(agency_id, sub_account_id)
            if sub is None:
                raise NotFoundError(
                    f"sub-account {sub_account_id!r} does not exist in agency {agency_id!r}"
                )
            provider, linked = linked_account(uow.store, agency_id, charging=True)
            account: str | None = linked
            name, email = sub.name, sub.email or None
        else:  # the agency pays the platform, on the platform's own (Stripe) account
            provider, account, name, email = STRIPE, None, agency.name, None
    if provider == STRIPE and not payment_method.startswith("pm_"):
        raise ValidationError(
            [
                FieldError(
                    "--payment-method",
                    "a Stripe PaymentMethod id like pm_… (test mode: pm_card_visa)",
                    "payment_method",
                )
            ]
        )
    card = require_gateway(context, provider).save_card(account, name, email, payment_method)
    uow = uow_factory()
    with uow:
        uow.store.save_gateway_customer(
            agency_id, sub_account_id or AGENCY_PARTY, provider, account, card, now
        )
        uow.commit()
    return {
        "agency": agency_id,
        "sub_account": sub_account_id,
        "account": account or "platform",
        "customer": card.customer_id,
        "payment_method": card.payment_method_id,
        "card": card.label,
    }


# -- off-session charges -------------------------------------------------------------------------
def charge_invoice(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    number: str,
    now: datetime,
) -> dict[str, Any]:
    """Charge an open invoice to its payer's saved card. A declined card leaves the invoice
    open (and says why); the next run is a new attempt with a new key."""
    uow = uow_factory()
    with uow:
        store = uow.store
        agency = agency_of(store, agency_id)
        store.lock_invoice(agency_id, number)  # one charge of an invoice at a time
        invoice = stored_invoice(store, agency_id, number)
        if invoice.kind not in COLLECTABLE:
            raise ConflictError(
                f"{number} is a {invoice.kind.replace('_', ' ')}; only retail and wholesale "
                "invoices are charged (receipts are paid when issued)"
            )
        if invoice.status in {"paid", "refunded"}:
            return _charge_document(invoice, store.payments_of(agency_id, number), "paid")
        if invoice.total_minor <= 0:
            raise ConflictError(f"{number} totals {format_minor(0, invoice.currency)}")
        party = invoice.sub_account_id if invoice.kind == "retail" else AGENCY_PARTY
        provider, account = (
            linked_account(store, agency_id, charging=True)
            if invoice.kind == "retail"
            else (STRIPE, None)
        )
        saved = store.gateway_customer(agency_id, party or AGENCY_PARTY)
        pending = store.payments_of(agency_id, number)
        resuming = bool(pending) and pending[-1].status == "pending"
        if not resuming and (
            saved is None
            or saved[1] != account
            or saved[0] != provider
            or not saved[2].payment_method_id
        ):
            who = f"sub-account {party!r}" if party else f"agency {agency_id!r} (at the platform)"
            flag = f" --sub-account {party}" if party else ""
            raise ConflictError(
                f"{who} has no saved card to charge: rebill gateway save-card --agency "
                f"{agency_id}{flag} --payment-method pm_…"
            )
        attempts = store.payments_of(agency_id, number, for_update=True)
        if attempts and attempts[-1].status == "pending":
            # Its answer never came: ask again exactly as before (key, account, card, fee).
            attempt = attempts[-1]
            provider, account = attempt.provider, attempt.account_id
        else:
            assert saved is not None  # checked above for a new attempt
            serial = len(attempts) + 1
            attempt = PaymentAttempt(
                number,
                serial,
                payment_key(agency_id, number, serial, uuid.uuid4().hex[:12]),
                provider,
                account,
                invoice.total_minor,
                "pending",
                customer_id=saved[2].customer_id,
                payment_method_id=saved[2].payment_method_id,
                # The platform's fee applies to direct charges on the agency's account only.
                fee_minor=application_fee_minor(
                    invoice.total_minor, store.application_fee_bps(agency_id) if account else 0
                ),
            )
            store.save_payment(agency_id, attempt, now)
            attempts.append(attempt)
        gateway = require_gateway(context, provider)
        uow.commit()
    fee = attempt.fee_minor
    request = ChargeRequest(
        customer_id=attempt.customer_id or "",
        payment_method_id=attempt.payment_method_id or "",
        amount_minor=attempt.amount_minor,
        currency=invoice.currency,
        description=f"{invoice.issuer} invoice {number}",
        metadata={
            "rebill_agency": agency_id,
            "rebill_invoice": number,
            "rebill_attempt": str(attempt.attempt),
        },
        application_fee_minor=fee,
    )
    # A gateway error (after the SDK's retries) leaves the attempt pending: whether Stripe
    # executed it is unknown, so the next run asks again with the same key, and the
    # PaymentIntent webhook settles it meanwhile if it went through.
    found = None
    if resuming and attempt.customer_id:  # made already, its answer lost? (keys last 24 h)
        found = gateway.find_charge(account, attempt.customer_id, attempt.idempotency_key)
    try:
        outcome = found or gateway.charge(account, request, attempt.idempotency_key)
    except GatewayError as error:
        if error.retryable or "dempotency" in error.gateway_code:
            raise
        # Refused before anything happened (no such customer, an invalid request): this
        # attempt ends, so that the next one can ask with what is saved now.
        outcome = ChargeOutcome("failed", None, error.gateway_code, error.message)
    attempts[-1] = _record(uow_factory, agency, number, attempt, outcome, now)
    if attempts[-1].status == "duplicate":
        refund_duplicates(uow_factory, context, now, [agency_id])
        attempts = _fresh_attempts(uow_factory, agency_id, number)
    status = {"succeeded": "paid", "duplicate": "paid", "returned": "paid"}.get(
        attempts[-1].status, "processing" if outcome.status == "processing" else "open"
    )
    return _charge_document(invoice, attempts, status)


def _fresh_attempts(
    uow_factory: UnitOfWorkFactory, agency_id: str, number: str
) -> list[PaymentAttempt]:
    with uow_factory() as uow:
        return uow.store.payments_of(agency_id, number)


def _record(
    uow_factory: UnitOfWorkFactory,
    agency: Agency,
    number: str,
    attempt: PaymentAttempt,
    outcome: ChargeOutcome,
    now: datetime,
) -> PaymentAttempt:
    uow = uow_factory()
    with uow:
        done = apply_outcome(uow.store, agency, number, attempt.attempt, outcome, now)
        uow.commit()
    return done


def apply_outcome(
    store: Store,
    agency: Agency,
    number: str,
    serial: int,
    outcome: ChargeOutcome,
    now: datetime,
) -> PaymentAttempt:
    """Record a gateway's answer to one attempt, once: a success pays the invoice (ledger and
    status), a failure emits `payment.failed`. Answers that arrive again (the charge call and
    its webhook, in either order) change nothing. Only a success is final: an attempt that
    needed authentication succeeds when the client completes it on session (its webhook)."""
    store.lock_invoice(agency.id, number)  # the invoice, then its attempts: one lock order
    attempts = {a.attempt: a for a in store.payments_of(agency.id, number, for_update=True)}
    attempt = attempts.get(serial)
    if attempt is None:
        raise NotFoundError(f"invoice {number} has no payment attempt {serial}")
    if attempt.status in FINAL:
        return attempt
    if attempt.status != "pending" and outcome.status != "succeeded":
        return attempt  # told already
    intent = outcome.payment_intent or attempt.payment_intent
    if outcome.status == "processing":  # a bank debit on its way: still pending
        done = replace(attempt, payment_intent=intent)
        store.save_payment(agency.id, done, now)
        return done
    invoice = stored_invoice(store, agency.id, number)
    status = outcome.status
    if status == "succeeded" and invoice.status != "open":
        # Paid by another attempt meanwhile (a card authenticated late, a hosted-page payment
        # racing an off-session charge): this money goes back (`refund_duplicates`).
        status = "duplicate"
    done = replace(
        attempt, status=status, payment_intent=intent, code=outcome.code, message=outcome.message
    )
    store.save_payment(agency.id, done, now)
    if status == "succeeded":
        provider = attempt.provider
        if attempt.account_id is None:  # the platform's own account
            provider = f"platform:{provider}"
        store.post_entry(payment_entry(invoice, provider, intent or "", now))
        store.mark_invoice(agency.id, number, "paid")
        emit(store, agency.id, "invoice.paid", _paid_event(invoice, done), now)
    elif status in ("failed", "requires_action"):
        emit(store, agency.id, "payment.failed", _failed_event(invoice, done), now)
    return done


def refund_duplicates(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    now: datetime,
    agency_ids: list[str] | None = None,
) -> list[str]:
    """Give back every payment of an invoice that was paid already (attempts `duplicate`),
    each with one key of its own, then mark it `returned`. Run after the charge or the event
    that found one, and by `rebill serve`'s worker, so a crash in between loses nothing."""
    with uow_factory() as uow:
        found = uow.store.payments_with_status("duplicate", agency_ids)
    returned = []
    for agency_id, attempt in found:
        refund = require_gateway(context, attempt.provider).refund(
            attempt.account_id,
            attempt.payment_intent or "",
            attempt.amount_minor,
            f"rebill:{agency_id}:duplicate:{attempt.payment_intent}",
            {"rebill_agency": agency_id, "rebill_invoice": attempt.number},
        )
        uow = uow_factory()
        with uow:
            uow.store.lock_invoice(agency_id, attempt.number)
            current = {a.attempt: a for a in uow.store.payments_of(agency_id, attempt.number)}
            if current[attempt.attempt].status == "duplicate":
                uow.store.save_payment(
                    agency_id,
                    replace(attempt, status="returned", message=f"paid twice: refunded {refund}"),
                    now,
                )
            uow.commit()
        returned.append(refund)
    return returned


def _paid_event(invoice: StoredInvoice, attempt: PaymentAttempt) -> dict[str, Any]:
    return {
        "invoice": invoice.number,
        "kind": invoice.kind,
        "sub_account": invoice.sub_account_id,
        "amount": format_minor(invoice.total_minor, invoice.currency),
        "currency": invoice.currency,
        "attempt": attempt.attempt,
        "payment_intent": attempt.payment_intent,
    }


def _failed_event(invoice: StoredInvoice, attempt: PaymentAttempt) -> dict[str, Any]:
    return {
        **_paid_event(invoice, attempt),
        "status": attempt.status,
        "code": attempt.code,
        "message": attempt.message,
    }


def _charge_document(
    invoice: StoredInvoice, attempts: list[PaymentAttempt], status: str
) -> dict[str, Any]:
    return {
        "number": invoice.number,
        "kind": invoice.kind,
        "status": status,
        "total": format_minor(invoice.total_minor, invoice.currency),
        "currency": invoice.currency,
        "attempts": [
            {
                "attempt": a.attempt,
                "status": a.status,
                "idempotency_key": a.idempotency_key,
                "payment_intent": a.payment_intent,
                "code": a.code,
                "message": a.message,
            }
            for a in attempts
        ],
    }


def payment_event(
    store: Store, event_type: str, intent: dict[str, Any], account: str | None, now: datetime
) -> str:
    """A PaymentIntent event about an invoice attempt (`payment_intent.succeeded` or
    `.payment_failed`): the answer a crashed or timed-out charge never recorded."""
    metadata = intent.get("metadata") or {}
    agency_id, number = metadata.get("rebill_agency"), metadata.get("rebill_invoice")
    serial = str(metadata.get("rebill_attempt") or "")
    if not agency_id or not number or not serial.isdigit():
        return "ignored"
    agency = store.get_agency(str(agency_id))
    attempts = {a.attempt: a for a in store.payments_of(str(agency_id), str(number))}
    attempt = attempts.get(int(serial))
    if agency is None or attempt is None or attempt.account_id != account:
        return "unknown payment"  # never another agency's invoice
    if event_type == "payment_intent.succeeded":
        outcome = ChargeOutcome("succeeded", str(intent.get("id")))
    else:
        error = intent.get("last_payment_error") or {}
        code = str(error.get("code") or "payment_failed")
        status = "requires_action" if code == "authentication_required" else "failed"
        outcome = ChargeOutcome(status, str(intent.get("id")), code, error.get("message"))
    done = apply_outcome(store, agency, str(number), attempt.attempt, outcome, now)
    return f"payment {done.status}"


# -- refunds and credit notes ------------------------------------------------------------------
def refund_invoice(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    number: str,
    amount: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Refund a paid invoice or receipt (all of what is left, or `amount`) and issue the credit
    note. Paid through Stripe: the refund goes through Stripe first, with one key per refund;
    paid manually: the credit note records money the agency returned itself."""
    uow = uow_factory()
    with uow:
        store = uow.store
        agency = agency_of(store, agency_id)
        store.lock_invoice(agency_id, number)  # one refund of an invoice at a time
        invoice = stored_invoice(store, agency_id, number)
        if invoice.kind not in REFUNDABLE:
            raise ConflictError(
                f"{number} is a {invoice.kind.replace('_', ' ')}; refunds apply to paid "
                "retail invoices and receipts"
            )
        if invoice.status not in ("paid", "refunded"):
            raise ConflictError(f"{number} is {invoice.status}: only a paid invoice is refunded")
        paid = [a for a in store.payments_of(agency_id, number) if a.status == "succeeded"]
        via = paid[-1] if paid and paid[-1].payment_intent else None
        pending = store.pending_refund(agency_id, number)
        if pending is not None:  # its answer never came: finish it first, with its own key
            key, amount_minor = str(pending["key"]), int(pending["amount_minor"])
            already = store.refunded_minor(agency_id, number) - amount_minor
            asked = _refund_amount(amount, invoice.total_minor - already, invoice)
            if amount is not None and asked != amount_minor:
                raise ConflictError(
                    f"a refund of {format_minor(amount_minor, invoice.currency)} of {number} "
                    "is still unfinished (Stripe's answer never came): run the refund without "
                    "--amount to finish it first"
                )
            gateway_key = str(pending["idempotency_key"])
        else:
            already = store.refunded_minor(agency_id, number)
            amount_minor = _refund_amount(amount, invoice.total_minor - already, invoice)
            key = f"refund:{number}:{already}:{amount_minor}:{uuid.uuid4().hex[:12]}"
            _check_credits_left(store, agency, invoice, amount_minor)
            gateway_key = f"rebill:{agency_id}:{key}"
            store.save_refund(
                agency_id, key, number, amount_minor, "pending", None, None, now, gateway_key
            )
        uow.commit()
    refund_id = None
    if via is not None and pending is not None:  # made already, its answer lost?
        refund_id = require_gateway(context, via.provider).find_refund(
            via.account_id, via.payment_intent or "", gateway_key
        )
    if via is not None and refund_id is None:
        try:
            refund_id = require_gateway(context, via.provider).refund(
                via.account_id,
                via.payment_intent or "",
                amount_minor,
                gateway_key,
                {"rebill_agency": agency_id, "rebill_invoice": number},
            )
        except GatewayError as error:
            if not error.retryable and "dempotency" not in error.gateway_code:
                _refund_refused(uow_factory, agency_id, key, now)  # Stripe said no: nothing moved
            raise
    uow = uow_factory()
    with uow:
        note = issue_credit_note(uow.store, agency, number, key, amount_minor, via, refund_id, now)
        uow.commit()
    return {
        "invoice": number,
        "credit_note": note,
        "amount": format_minor(amount_minor, invoice.currency),
        "currency": invoice.currency,
        "refund": refund_id,
        "refunded": format_minor(already + amount_minor, invoice.currency),
        "status": "refunded" if already + amount_minor == invoice.total_minor else "paid",
    }


def _refund_refused(
    uow_factory: UnitOfWorkFactory, agency_id: str, key: str, now: datetime
) -> None:
    uow = uow_factory()
    with uow:
        record = uow.store.refund_record(agency_id, key)
        if record is not None and record["status"] == "pending":
            uow.store.save_refund(
                agency_id,
                key,
                str(record["number"]),
                int(record["amount_minor"]),
                "failed",
                None,
                None,
                now,
            )
        uow.commit()


def _refund_amount(amount: str | None, remaining: int, invoice: StoredInvoice) -> int:
    currency = invoice.currency
    if remaining <= 0:
        raise ConflictError(f"{invoice.number} is refunded in full already")
    if amount is None:
        return remaining
    try:
        micros = to_micros(amount)
    except (TypeError, ValueError) as exc:
        raise ValidationError([FieldError("--amount", str(exc), "amount")]) from None
    unit = micros_per_minor(currency)
    if micros <= 0 or micros % unit or micros // unit > remaining:
        raise ValidationError(
            [
                FieldError(
                    "--amount",
                    f"a refund is more than 0 and at most the {format_minor(remaining, currency)} "
                    f"{currency} not refunded yet, in whole minor units",
                    "amount",
                )
            ]
        )
    return micros // unit


def _credits_part(invoice: StoredInvoice, amount_minor: int) -> tuple[int, int]:
    """(net, tax) of a refund of `amount_minor`: the tax in proportion to the invoice's."""
    tax = refund_tax_minor(amount_minor, invoice.total_minor, invoice.tax_minor)
    return amount_minor - tax, tax


def _check_credits_left(
    store: Store, agency: Agency, invoice: StoredInvoice, amount_minor: int
) -> None:
    """A refunded credit purchase takes its credits back: they must still be in the wallet."""
    if not invoice.lines or invoice.lines[0].code != "credits.purchase":
        return
    net, _ = _credits_part(invoice, amount_minor)
    unit = micros_per_minor(invoice.currency)
    sub = invoice.sub_account_id or ""
    balance = store.wallet_balances(agency.id, [sub]).get(sub, 0)
    if balance < net * unit:
        raise ConflictError(
            f"refunding {format_minor(amount_minor, invoice.currency)} takes back "
            f"{format_minor(net, invoice.currency)} of credits, but {sub} holds "
            f"{format_minor(balance // unit, invoice.currency)}: refund at most what is left"
        )


def issue_credit_note(
    store: Store,
    agency: Agency,
    number: str,
    key: str,
    amount_minor: int,
    via: PaymentAttempt | None,
    refund_id: str | None,
    now: datetime,
) -> str:
    """The credit note of a refund, once per key: its own gapless series (`{PREFIX}-CN-…`),
    the tax in proportion, and the entry that reverses the sale."""
    store.lock_invoice(agency.id, number)  # the invoice, then its refunds: one lock order
    record = store.refund_record(agency.id, key)
    assert record is not None, key
    if record["credit_note"]:
        return str(record["credit_note"])
    invoice = stored_invoice(store, agency.id, number)
    net, tax = _credits_part(invoice, amount_minor)
    policy = TaxPolicy(
        mode=agency.tax.mode if invoice.tax_minor else "none",
        rate_percent=agency.tax.rate_percent,
        behavior=invoice.tax_behavior,
        label=invoice.tax_label,
    )
    draft = InvoiceDraft(
        kind="credit_note",
        issuer=invoice.issuer,
        agency_id=agency.id,
        sub_account_id=invoice.sub_account_id,
        period=invoice.period,
        currency=invoice.currency,
        issued_at=now,
        tax=policy,
        idempotency_key=key,
        credit_of=number,
    )
    unit = micros_per_minor(invoice.currency)
    line_minor = amount_minor if policy.inclusive else net
    draft.add_line(
        "credit_note.refund",
        f"Refund of {number}" + (f" ({refund_id})" if refund_id else ""),
        "1",
        None,
        line_minor * unit,
        tax,
    )
    provider = via.provider if via is not None else MANUAL
    credits = bool(invoice.lines) and invoice.lines[0].code == "credits.purchase"
    sub = invoice.sub_account_id or ""
    debit = Accounts.wallet(sub) if credits else Accounts.REVENUE_REFUNDS

    def entry(note: InvoiceDraft, note_number: str, _: str) -> JournalEntry:
        return JournalEntry.of(
            agency.id,
            f"invoice:{note_number}",
            f"credit note {note_number} of {number}",
            now,
            invoice.currency,
            [
                (debit, net * unit),
                (Accounts.TAX_PAYABLE, tax * unit),
                (Accounts.gateway_clearing(provider), -amount_minor * unit),
            ],
        )

    note = finalize(store, draft, "issued", "", entry)
    if credits:
        store.add_to_wallet(agency.id, sub, -net * unit)
    refunded = store.refunded_minor(agency.id, number)
    if refunded >= invoice.total_minor:
        store.mark_invoice(agency.id, number, "refunded")
    store.save_refund(agency.id, key, number, amount_minor, "succeeded", refund_id, note, now)
    emit(
        store,
        agency.id,
        "credit_note.issued",
        {
            "credit_note": note,
            "invoice": number,
            "sub_account": invoice.sub_account_id,
            "amount": format_minor(amount_minor, invoice.currency),
            "tax": format_minor(tax, invoice.currency),
            "currency": invoice.currency,
            "refund": refund_id,
        },
        now,
    )
    return note


# -- auto top-ups --------------------------------------------------------------------------------
def process_top_ups(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    now: datetime,
    agency_ids: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Charge pending auto top-ups to the sub-accounts' saved cards (BILLING_MODEL §7): the
    credit purchase is a taxable sale on its own receipt and its net amount goes to the
    wallet. Each request is charged once, with the key stored on it before Stripe is asked.
    Requests without a saved card on a linked Stripe account stay pending (with the manual
    gateway the agency collects them itself and records them with `credits add`)."""
    with uow_factory() as uow:
        ids = agency_ids if agency_ids is not None else uow.store.list_agency_ids()
    results = []
    for agency_id in ids:
        with uow_factory() as uow:
            pending = [r for r in uow.store.top_up_requests(agency_id) if r["status"] == "pending"]
        for request in pending:
            try:
                results.append(_top_up(uow_factory, context, agency_id, request, now))
            except BillingError as error:  # kept pending (with its key) for the next run
                with uow_factory() as uow:
                    agency = agency_of(uow.store, agency_id)
                results.append(_top_up_document(agency, request, "pending", None, error.message))
    return results


def _top_up(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    request: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    sub_id, trigger = str(request["sub_account"]), str(request["trigger"])
    with uow_factory() as uow:
        agency = agency_of(uow.store, agency_id)
        link = uow.store.gateway_link(agency_id)
        saved = uow.store.gateway_customer(agency_id, sub_id)
        country = uow.store.sub_account_countries(agency_id).get(sub_id, "")
    usable = link is not None and link[0] != MANUAL and link[1] and link[2]
    provider, account = (link[0], link[1]) if link and usable else (MANUAL, None)
    if account is None or saved is None or saved[1] != account or not saved[2].payment_method_id:
        return _top_up_document(agency, request, "pending", None, "no saved card to charge")
    unit = micros_per_minor(agency.currency)
    amount_minor = int(request["amount_micros"]) // unit
    if int(request["amount_micros"]) > credit_purchase_max_units * MICROS_PER_UNIT:
        refusal = f"above the per-purchase bound of {credit_purchase_max_units}: not charged"
        with uow_factory() as uow:  # set before the bound existed: never charged
            uow.store.update_top_up(agency_id, sub_id, trigger, "failed", None, None, refusal)
            uow.commit()
        return _top_up_document(agency, request, "failed", None, refusal)
    policy, tax_minor = _top_up_tax(context, agency, account, country, amount_minor)
    uow = uow_factory()
    with uow:
        store = uow.store
        # Read again under its lock: another runner (the server's worker, the CLI) may have
        # charged it meanwhile; a retry asks exactly what the first ask did.
        current = store.top_up_request(agency_id, sub_id, trigger)
        if current is None or current["status"] != "pending":
            status = str(current["status"]) if current else "gone"
            receipt = current["receipt"] if current else None
            return _top_up_document(agency, request, status, receipt, None)
        if current["idempotency_key"] and current["charged_tax_minor"] is not None:
            key, tax_minor = str(current["idempotency_key"]), int(current["charged_tax_minor"])
        else:
            key = f"rebill:{agency_id}:topup:{uuid.uuid4().hex}"
        store.update_top_up(agency_id, sub_id, trigger, "pending", key, charged_tax_minor=tax_minor)
        uow.commit()
    total = amount_minor if policy.inclusive else amount_minor + tax_minor
    charge = ChargeRequest(
        customer_id=saved[2].customer_id,
        payment_method_id=saved[2].payment_method_id,
        amount_minor=total,
        currency=agency.currency,
        description=f"Auto top-up: {format_minor(amount_minor, agency.currency)} of credits",
        metadata={
            "rebill_agency": agency_id,
            "rebill_sub_account": sub_id,
            "rebill_top_up": trigger[:400],
        },
    )
    try:
        outcome = require_gateway(context, provider).charge(account, charge, key)
    except GatewayError as error:
        if error.retryable or "dempotency" in error.gateway_code:
            raise  # unknown whether it went through: kept pending, asked again with its key
        outcome = ChargeOutcome("failed", None, error.gateway_code, error.message)
    uow = uow_factory()
    with uow:
        store = uow.store
        current = store.top_up_request(agency_id, sub_id, trigger)  # locked again
        if current is None or current["status"] != "pending":  # another runner recorded it
            status = str(current["status"]) if current else "gone"
            receipt = current["receipt"] if current else None
            return _top_up_document(agency, request, status, receipt, None)
        if outcome.status == "succeeded":
            receipt, _ = add_credits(
                store,
                agency_id,
                sub_id,
                format_minor(amount_minor, agency.currency),
                now,
                f"topup:{trigger}",
                tax_minor,
                provider,
                policy,
            )
            paid = PaymentAttempt(
                receipt, 1, key, provider, account, total, "succeeded", outcome.payment_intent
            )
            store.save_payment(agency_id, paid, now)
            store.update_top_up(agency_id, sub_id, trigger, "succeeded", key, receipt)
            status, message = "succeeded", None
        else:
            message = outcome.message or outcome.code or "declined"
            store.update_top_up(agency_id, sub_id, trigger, "failed", key, None, message)
            emit(
                store,
                agency_id,
                "payment.failed",
                {
                    "top_up": trigger,
                    "sub_account": sub_id,
                    "amount": format_minor(total, agency.currency),
                    "currency": agency.currency,
                    "payment_intent": outcome.payment_intent,
                    "status": outcome.status,
                    "code": outcome.code,
                    "message": outcome.message,
                },
                now,
            )
            status, receipt = "failed", None
        uow.commit()
    return _top_up_document(agency, request, status, receipt, message)


def _top_up_tax(
    context: GatewayContext, agency: Agency, account: str, country: str, amount_minor: int
) -> tuple[TaxPolicy, int]:
    """The tax of a credit purchase: the agency's own rate, or Stripe Tax's for the
    sub-account's country (refused with `tax_not_configured` unless it is active)."""
    if agency.tax.mode != "stripe":
        return agency.tax, agency.tax.line_tax_minor(amount_minor)
    gateway = require_gateway(context)
    behavior = active_tax_behavior(gateway, account, agency.currency)
    (tax,) = gateway.calculate_tax(account, agency.currency, country, [amount_minor], behavior)
    return replace(agency.tax, behavior=behavior), tax


def _top_up_document(
    agency: Agency,
    request: dict[str, Any],
    status: str,
    receipt: str | None,
    message: str | None,
) -> dict[str, Any]:
    unit = micros_per_minor(agency.currency)
    return {
        "agency": agency.id,
        "sub_account": request["sub_account"],
        "trigger": request["trigger"],
        "amount": format_minor(int(request["amount_micros"]) // unit, agency.currency),
        "currency": agency.currency,
        "status": status,
        "receipt": receipt,
        "message": message,
    }
