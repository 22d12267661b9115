"""Money moved in the gateway's dashboard rather than through rebill: refunds (`charge.refunded`)
become credit notes, disputes (`charge.dispute.*`) dispute records, on the invoice or receipt
the payment paid, each once, whatever the order and the number of deliveries.

- Refunds: the event only says that the payment has refunds; they are read again from the
  gateway (so a late, early or repeated event finds the same list) and each one not asked by
  rebill (no `rebill_key` in its metadata) gets a credit note keyed by the refund's id.
- Disputes: the record is keyed by the dispute's id; a closed dispute (won, lost) is final, so
  an older event arriving after it changes nothing; a lost dispute gets its credit note once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rebill.services.accounts.tenant import open_agency
from rebill.services.invoicing.billing import stored_invoice
from rebill.services.payments.collect import REFUNDABLE, issue_credit_note
from rebill.services.payments.gateway import GatewayContext, require_gateway
from rebill.services.payments.tax_records import record_pending_taxes
from rebill.services.ports import AgencyView, Dispute, Refund, UnitOfWork, UnitOfWorkFactory

REFUND_EVENTS = ("charge.refunded",)
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")
DISPUTE_FINAL = ("won", "lost", "warning_closed")
reason_length_max = 64


def _paid_document(tenant: AgencyView, intent: str, account: str | None) -> tuple[str, Any]:
    """(number, attempt) of the invoice or receipt the payment paid, or ('', None)."""
    attempt = tenant.payments.paid_by(intent) if intent else None
    if attempt is None or attempt.account_id != account:
        return "", None
    return attempt.number, attempt


def dashboard_refunds(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    account: str,
    charge: dict[str, Any],
    now: datetime,
) -> str:
    """Credit notes for the refunds of the charge's payment made outside rebill."""
    intent = str(charge.get("payment_intent") or "")
    with uow_factory() as uow:
        number, attempt = _paid_document(uow.for_agency(agency_id), intent, account)
    if not number:
        return "unknown payment"
    notes = []
    for refund in require_gateway(context).refunds_of(account, intent):
        if refund.rebill_key or refund.status not in ("succeeded", "pending"):
            continue  # rebill's own (its credit note is rebill's to issue), or refused
        key = f"dashboard:{refund.id}"
        with uow_factory() as uow:
            agency, tenant = open_agency(uow, agency_id)
            tenant.invoices.lock(number)
            record = tenant.payments.refund(key)
            if record is None:
                invoice = stored_invoice(tenant, number)
                left = invoice.total_minor - tenant.payments.refunded_minor(number)
                amount = min(refund.amount_minor, left)
                if invoice.kind not in REFUNDABLE or amount <= 0:
                    continue
                record = Refund(key, number, amount, key, "pending", refund.id, None)
                tenant.payments.save_refund(record, now)
            if record.credit_note:
                continue
            note = issue_credit_note(
                tenant, agency, number, key, record.amount_minor, attempt, refund.id, now
            )
            uow.commit()
        notes.append(note)
    if notes:
        record_pending_taxes(uow_factory, context, now, [agency_id])
    return f"dashboard refund: {', '.join(notes)}" if notes else "refunds known"


def dispute_event(
    uow: UnitOfWork, agency_id: str, account: str, dispute: dict[str, Any], now: datetime
) -> str:
    """Record a dispute's state (in the event's transaction); a lost one's credit note."""
    agency, tenant = open_agency(uow, agency_id)
    number, attempt = _paid_document(tenant, str(dispute.get("payment_intent") or ""), account)
    dispute_id = str(dispute.get("id") or "")
    if not number or not dispute_id:
        return "unknown payment"
    tenant.invoices.lock(number)
    stored = tenant.payments.dispute(dispute_id, for_update=True)
    status = str(dispute.get("status") or "needs_response")
    if stored is not None and stored.status in DISPUTE_FINAL:
        status = stored.status  # closed already: an older event changes nothing
    amount = int(dispute.get("amount") or 0)
    reason = str(dispute.get("reason") or "general")[:reason_length_max]
    known_note = stored.credit_note if stored is not None else None
    record = Dispute(dispute_id, number, amount, status, reason, known_note)
    tenant.payments.save_dispute(record, now)
    if status != "lost" or record.credit_note:
        return f"dispute {status}"
    key = f"dispute:{dispute_id}"
    invoice = stored_invoice(tenant, number)
    left = invoice.total_minor - tenant.payments.refunded_minor(number)
    taken = min(amount, left)
    if invoice.kind not in REFUNDABLE or taken <= 0:
        return "dispute lost"
    if tenant.payments.refund(key) is None:
        tenant.payments.save_refund(Refund(key, number, taken, key, "pending", None, None), now)
    note = issue_credit_note(tenant, agency, number, key, taken, attempt, dispute_id, now)
    tenant.payments.save_dispute(Dispute(dispute_id, number, amount, status, reason, note), now)
    return f"dispute lost: {note}"
