"""Stripe Tax as the record: every document taxed through Stripe Tax (a retail invoice of a
`stripe` mode close, an auto top-up's receipt) becomes a tax transaction on the agency's
account, its reference the document's number; every credit note of such a document becomes a
reversal of it (full when it takes back the whole document, else partial by its total), its
reference the credit note's number. So the agency's Stripe Tax reports match the documents.

Checkout Sessions with automatic tax are recorded by Stripe itself (as it does for Checkout),
so their receipts get no record here, nor their refunds a reversal.

Like every gateway call, recording sits between short transactions: a `pending` record is
written with the document (or right after it), the calculation is made and its id stored, then
the transaction is asked with a key of its own (`rebill:{agency}:tax:{number}`), so a crash or
a timeout in between asks again exactly the same; `record_pending_taxes` (the worker) finishes
whatever was left."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from rebill.domain.errors import BillingError
from rebill.services.invoicing.billing import stored_invoice
from rebill.services.payments.gateway import STRIPE, GatewayContext, require_gateway
from rebill.services.ports import AgencyView, StoredInvoice, TaxRecord, UnitOfWorkFactory

TRANSACTION, REVERSAL = "transaction", "reversal"


class CloseQuotes(Protocol):
    """The calculations a close asked, by (country, positive line amounts)."""

    @property
    def calculations(self) -> dict[tuple[str, tuple[int, ...]], str]: ...


logger = logging.getLogger("rebill.tax")


def queue_transaction(
    tenant: AgencyView, number: str, now: datetime, calculation: str | None = None
) -> None:
    """Record `number` in Stripe Tax (once; in the caller's transaction), from the
    calculation that taxed it when it is known."""
    if tenant.payments.tax_record(number) is None:
        record = TaxRecord(number, TRANSACTION, calculation_id=calculation)
        tenant.payments.save_tax_record(record, now)


def queue_reversal(tenant: AgencyView, note: str, original: str, now: datetime) -> None:
    """Record credit note `note` as a reversal of `original`'s transaction, when `original`
    was recorded in Stripe Tax (in the caller's transaction)."""
    if tenant.payments.tax_record(original) is None or tenant.payments.tax_record(note):
        return
    tenant.payments.save_tax_record(TaxRecord(note, REVERSAL, original), now)


def record_pending_taxes(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    now: datetime,
    agency_ids: list[str] | None = None,
) -> list[str]:
    """Make every pending record in Stripe Tax (of the agencies given, else of all); the
    numbers recorded. One that fails stays pending for the next run."""
    if agency_ids is None:
        with uow_factory() as uow:
            agency_ids = uow.platform.gateway.agencies_with_pending_tax_records()
    done = []
    for agency_id in agency_ids:
        with uow_factory() as uow:
            pending = uow.for_agency(agency_id).payments.pending_tax_records()
        for record in pending:
            try:
                if _record(uow_factory, context, agency_id, record, now):
                    done.append(record.number)
            except BillingError as error:  # kept pending: asked again with the same key
                logger.warning("tax record of %s %s: %s", agency_id, record.number, error)
    return done


def _account(tenant: AgencyView) -> str | None:
    link = tenant.gateway.link()
    return link.account_id if link and link.provider == STRIPE else None


def _record(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    record: TaxRecord,
    now: datetime,
) -> bool:
    with uow_factory() as uow:
        tenant = uow.for_agency(agency_id)
        account = _account(tenant)
        document = stored_invoice(tenant, record.number)
        original = stored_invoice(tenant, record.original) if record.original else None
        country = _country(tenant, document)
        earlier = tenant.payments.tax_record(record.original) if record.original else None
    if account is None:
        return False
    gateway = require_gateway(context, STRIPE)
    key = f"rebill:{agency_id}:tax:{record.number}"
    if record.kind == REVERSAL:
        if earlier is None or earlier.transaction_id is None:
            return False  # its invoice's transaction first
        assert original is not None
        whole = document.total_minor >= original.total_minor
        flat = None if whole else document.total_minor
        transaction = gateway.reverse_tax(account, earlier.transaction_id, record.number, flat, key)
        return _save(uow_factory, agency_id, replace(record, transaction_id=transaction), now)
    calculation = record.calculation_id
    if calculation is None:
        amounts = [line.amount_minor for line in document.lines if line.amount_minor > 0]
        if not amounts:
            return _save(uow_factory, agency_id, replace(record, status="recorded"), now)
        calculation, _ = gateway.tax_calculation(
            account, document.currency, country, amounts, document.tax_behavior
        )
        # Stored before the transaction is asked: a retry asks from the same calculation.
        _save(uow_factory, agency_id, replace(record, calculation_id=calculation), now, "pending")
    transaction = gateway.record_tax(account, calculation, record.number, key)
    done = replace(record, calculation_id=calculation, transaction_id=transaction)
    return _save(uow_factory, agency_id, done, now)


def _country(tenant: AgencyView, document: StoredInvoice) -> str:
    country = tenant.sub_accounts.countries().get(document.sub_account_id or "")
    return country or tenant.brand.get().country


def _save(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    record: TaxRecord,
    now: datetime,
    status: str = "recorded",
) -> bool:
    with uow_factory() as uow:
        payments = uow.for_agency(agency_id).payments
        current = payments.tax_record(record.number, for_update=True)
        if current is None or current.status == "recorded":
            return False  # another run recorded it first
        payments.save_tax_record(replace(record, status=status), now)
        uow.commit()
    return status == "recorded"


def record_close_taxes(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext | None,
    agency_id: str,
    period: str,
    now: datetime,
    quotes: CloseQuotes,
) -> list[str]:
    """After a `stripe` mode close: its retail invoices recorded in Stripe Tax, each from the
    calculation that taxed it (a calculation is used once; an invoice whose lines another
    invoice's calculation taxed gets one of its own)."""
    if context is None:
        return []
    calculations = dict(quotes.calculations)
    with uow_factory() as uow:
        tenant = uow.for_agency(agency_id)
        countries = tenant.sub_accounts.countries()
        for invoice in tenant.invoices.find(period=period, kind="retail"):
            amounts = tuple(li.amount_minor for li in invoice.lines if li.amount_minor > 0)
            quote = (countries.get(invoice.sub_account_id or "", ""), amounts)
            queue_transaction(tenant, invoice.number, now, calculations.pop(quote, None))
        uow.commit()
    return record_pending_taxes(uow_factory, context, now, [agency_id])
