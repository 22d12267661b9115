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
from rebill.domain.money import format_minor, micros_per_minor, to_micros
from rebill.domain.tax import TaxPolicy
from rebill.domain.text import is_digits
from rebill.services.accounts.tenant import open_agency, require_sub_account
from rebill.services.invoicing.billing import (
    MANUAL,
    finalize,
    payment_entry,
    stored_invoice,
)
from rebill.services.notifications.webhooks import emit
from rebill.services.payments.gateway import (
    STRIPE,
    GatewayContext,
    linked_account,
    require_gateway,
)
from rebill.services.payments.tax_records import queue_reversal, record_pending_taxes
from rebill.services.ports import (
    AgencyView,
    GatewayCustomer,
    Refund,
    StoredInvoice,
    UnitOfWork,
    UnitOfWorkFactory,
)

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
        agency, tenant = open_agency(uow, agency_id)
        if sub_account_id:
            sub = require_sub_account(tenant, sub_account_id)
            provider, linked = linked_account(tenant, charging=True)
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
    with uow_factory() as uow:
        customer = GatewayCustomer(provider, account, card)
        uow.for_agency(agency_id).gateway.save_customer(
            sub_account_id or AGENCY_PARTY, customer, now
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
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        tenant.invoices.lock(number)  # one charge of an invoice at a time
        invoice = stored_invoice(tenant, number)
        if invoice.kind not in COLLECTABLE:
            raise ConflictError(
                f"{number} is a {invoice.kind.replace('_', ' ')}; only retail and wholesale "
                "invoices are charged (receipts are paid when issued)"
            )
        if invoice.status in {"paid", "refunded"}:
            return _charge_document(invoice, tenant.payments.of_invoice(number), "paid")
        if invoice.total_minor <= 0:
            raise ConflictError(f"{number} totals {format_minor(0, invoice.currency)}")
        party = invoice.sub_account_id if invoice.kind == "retail" else AGENCY_PARTY
        provider, account = (
            linked_account(tenant, charging=True) if invoice.kind == "retail" else (STRIPE, None)
        )
        saved = tenant.gateway.customer(party or AGENCY_PARTY)
        pending = tenant.payments.of_invoice(number)
        resuming = bool(pending) and pending[-1].status == "pending"
        if not resuming and (
            saved is None
            or saved.account_id != account
            or saved.provider != provider
            or not saved.card.payment_method_id
        ):
            who = f"sub-account {party!r}" if party else f"agency {agency_id!r} (at the platform)"
            flag = f" --sub-account {party}" if party else ""
            raise ConflictError(
                f"{who} has no saved card to charge: rebill gateway save-card --agency "
                f"{agency_id}{flag} --payment-method pm_…"
            )
        attempts = tenant.payments.of_invoice(number, for_update=True)
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
                customer_id=saved.card.customer_id,
                payment_method_id=saved.card.payment_method_id,
                # The platform's fee applies to direct charges on the agency's account only.
                fee_minor=application_fee_minor(
                    invoice.total_minor, tenant.gateway.application_fee_bps() if account else 0
                ),
            )
            tenant.payments.save(attempt, now)
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
        return uow.for_agency(agency_id).payments.of_invoice(number)


def _record(
    uow_factory: UnitOfWorkFactory,
    agency: Agency,
    number: str,
    attempt: PaymentAttempt,
    outcome: ChargeOutcome,
    now: datetime,
) -> PaymentAttempt:
    with uow_factory() as uow:
        tenant = uow.for_agency(agency.id)
        done = apply_outcome(tenant, agency, number, attempt.attempt, outcome, now)
        uow.commit()
    return done


def apply_outcome(
    tenant: AgencyView,
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
    tenant.invoices.lock(number)  # the invoice, then its attempts: one lock order
    attempts = {a.attempt: a for a in tenant.payments.of_invoice(number, for_update=True)}
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
        tenant.payments.save(done, now)
        return done
    invoice = stored_invoice(tenant, number)
    status = outcome.status
    if status == "succeeded" and invoice.status != "open":
        # Paid by another attempt meanwhile (a card authenticated late, a hosted-page payment
        # racing an off-session charge): this money goes back (`refund_duplicates`).
        status = "duplicate"
    done = replace(
        attempt, status=status, payment_intent=intent, code=outcome.code, message=outcome.message
    )
    tenant.payments.save(done, now)
    if status == "succeeded":
        provider = attempt.provider
        if attempt.account_id is None:  # the platform's own account
            provider = f"platform:{provider}"
        tenant.ledger.post(payment_entry(invoice, provider, intent or "", now))
        tenant.invoices.mark(number, "paid")
        emit(tenant.webhooks, "invoice.paid", _paid_event(invoice, done), now)
    elif status in ("failed", "requires_action"):
        emit(tenant.webhooks, "payment.failed", failed_event(invoice, done), now)
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
        found = _duplicates(uow, agency_ids)
    returned = []
    for agency_id, attempt in found:
        refund = require_gateway(context, attempt.provider).refund(
            attempt.account_id,
            attempt.payment_intent or "",
            attempt.amount_minor,
            f"rebill:{agency_id}:duplicate:{attempt.payment_intent}",
            {"rebill_agency": agency_id, "rebill_invoice": attempt.number},
        )
        with uow_factory() as uow:
            tenant = uow.for_agency(agency_id)
            tenant.invoices.lock(attempt.number)
            current = {a.attempt: a for a in tenant.payments.of_invoice(attempt.number)}
            if current[attempt.attempt].status == "duplicate":
                tenant.payments.save(
                    replace(attempt, status="returned", message=f"paid twice: refunded {refund}"),
                    now,
                )
            uow.commit()
        returned.append(refund)
    return returned


def _duplicates(uow: UnitOfWork, agency_ids: list[str] | None) -> list[tuple[str, PaymentAttempt]]:
    """(agency, attempt) of the attempts paid twice: of the agencies given, or of every agency
    (the platform's worker)."""
    if agency_ids is None:
        return [
            (p.agency_id, p.attempt) for p in uow.platform.gateway.payments_with_status("duplicate")
        ]
    return [
        (agency_id, attempt)
        for agency_id in sorted(agency_ids)
        for attempt in uow.for_agency(agency_id).payments.with_status("duplicate")
    ]


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


def failed_event(invoice: StoredInvoice, attempt: PaymentAttempt) -> dict[str, Any]:
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
    uow: UnitOfWork, event_type: str, intent: dict[str, Any], account: str | None, now: datetime
) -> str:
    """A PaymentIntent event about an invoice attempt (`payment_intent.succeeded` or
    `.payment_failed`): the answer a crashed or timed-out charge never recorded."""
    metadata = intent.get("metadata") or {}
    agency_id, number = metadata.get("rebill_agency"), metadata.get("rebill_invoice")
    serial = str(metadata.get("rebill_attempt") or "")
    if not agency_id or not number or not is_digits(serial):
        return "ignored"
    tenant = uow.for_agency(str(agency_id))
    agency = tenant.agency.get()
    attempts = {a.attempt: a for a in tenant.payments.of_invoice(str(number))}
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
    done = apply_outcome(tenant, agency, str(number), attempt.attempt, outcome, now)
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
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        tenant.invoices.lock(number)  # one refund of an invoice at a time
        invoice = stored_invoice(tenant, number)
        if invoice.kind not in REFUNDABLE:
            raise ConflictError(
                f"{number} is a {invoice.kind.replace('_', ' ')}; refunds apply to paid "
                "retail invoices and receipts"
            )
        if invoice.status not in ("paid", "refunded"):
            raise ConflictError(f"{number} is {invoice.status}: only a paid invoice is refunded")
        paid = [a for a in tenant.payments.of_invoice(number) if a.status == "succeeded"]
        via = paid[-1] if paid and paid[-1].payment_intent else None
        pending = tenant.payments.pending_refund(number)
        if pending is not None:  # its answer never came: finish it first, with its own key
            key, amount_minor = pending.key, pending.amount_minor
            already = tenant.payments.refunded_minor(number) - amount_minor
            asked = _refund_amount(amount, invoice.total_minor - already, invoice)
            if amount is not None and asked != amount_minor:
                raise ConflictError(
                    f"a refund of {format_minor(amount_minor, invoice.currency)} of {number} "
                    "is still unfinished (Stripe's answer never came): run the refund without "
                    "--amount to finish it first"
                )
            gateway_key = pending.idempotency_key
        else:
            already = tenant.payments.refunded_minor(number)
            amount_minor = _refund_amount(amount, invoice.total_minor - already, invoice)
            key = f"refund:{number}:{already}:{amount_minor}:{uuid.uuid4().hex[:12]}"
            _check_credits_left(tenant, invoice, amount_minor)
            gateway_key = f"rebill:{agency_id}:{key}"
            tenant.payments.save_refund(
                Refund(key, number, amount_minor, gateway_key, "pending", None, None), now
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
    with uow_factory() as uow:
        tenant = uow.for_agency(agency_id)
        note = issue_credit_note(tenant, agency, number, key, amount_minor, via, refund_id, now)
        uow.commit()
    record_pending_taxes(uow_factory, context, now, [agency_id])
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
    with uow_factory() as uow:
        payments = uow.for_agency(agency_id).payments
        record = payments.refund(key)
        if record is not None and record.status == "pending":
            refused = replace(record, status="failed", gateway_refund_id=None, credit_note=None)
            payments.save_refund(refused, now)
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


def _check_credits_left(tenant: AgencyView, invoice: StoredInvoice, amount_minor: int) -> None:
    """A refunded credit purchase takes its credits back: they must still be in the wallet."""
    if not invoice.lines or invoice.lines[0].code != "credits.purchase":
        return
    net, _ = _credits_part(invoice, amount_minor)
    unit = micros_per_minor(invoice.currency)
    sub = invoice.sub_account_id or ""
    balance = tenant.wallets.balances([sub]).get(sub, 0)
    if balance < net * unit:
        raise ConflictError(
            f"refunding {format_minor(amount_minor, invoice.currency)} takes back "
            f"{format_minor(net, invoice.currency)} of credits, but {sub} holds "
            f"{format_minor(balance // unit, invoice.currency)}: refund at most what is left"
        )


def issue_credit_note(
    tenant: AgencyView,
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
    tenant.invoices.lock(number)  # the invoice, then its refunds: one lock order
    record = tenant.payments.refund(key)
    assert record is not None, key
    if record.credit_note:
        return record.credit_note
    invoice = stored_invoice(tenant, number)
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

    note = finalize(tenant, draft, "issued", "", entry)
    if credits:
        tenant.wallets.add(sub, -net * unit)
    refunded = tenant.payments.refunded_minor(number)
    if refunded >= invoice.total_minor:
        tenant.invoices.mark(number, "refunded")
    tenant.payments.save_refund(
        replace(record, status="succeeded", gateway_refund_id=refund_id, credit_note=note), now
    )
    queue_reversal(tenant, note, number, now)  # when the invoice is in Stripe Tax
    emit(
        tenant.webhooks,
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
