"""Invoice documents: the PDF of an invoice in its issuer's brand (the agency for its clients,
the platform for an agency's wholesale invoice), with Factur-X when the issuer has a tax ID;
and an invoice's lines as the JSON documents of `close --json`, the API and the CLI."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from rebill.domain.errors import NotFoundError
from rebill.domain.invoice import InvoiceLine
from rebill.domain.money import format_minor
from rebill.domain.tax_decision import BuyerTaxIdentity
from rebill.services.payments.gateway import pay_page_url
from rebill.services.ports import InvoiceRenderer, StoredInvoice, StoredLine, UnitOfWorkFactory


def line_documents(invoice: StoredInvoice) -> list[dict[str, Any]]:
    """The invoice's lines, amounts formatted in its currency's minor unit."""
    return lines_document(invoice.lines, invoice.currency)


def lines_document(
    lines: Sequence[StoredLine] | Sequence[InvoiceLine],
    currency: str,
    money: Callable[[int], str] | None = None,
) -> list[dict[str, Any]]:
    """Lines as stored or as drafted (the close's document, built from what it wrote);
    `money` formats minor units as `format_minor` does in `currency` (a close's, remembered)."""
    if money is None:
        money = partial(_money, currency=currency)
    return [
        {
            "code": ln.code,
            "description": ln.description,
            "quantity": ln.quantity,
            "unit_price": ln.unit_price,
            "amount": money(ln.amount_minor),
            "tax": money(ln.tax_minor),
        }
        for ln in lines
    ]


def _money(minor: int, currency: str) -> str:
    return format_minor(minor, currency)


def invoice_pdf(
    uow_factory: UnitOfWorkFactory,
    renderer: InvoiceRenderer,
    number: str,
    agency_id: str | None = None,
    sub_account_id: str | None = None,
    public_url: str | None = None,
) -> bytes:
    """The PDF of invoice `number`, seen from a tenant when `agency_id` (and a sub-account)
    are given: another tenant's invoice is not found. With the platform's `public_url`
    (REBILL_PUBLIC_URL), an open retail invoice carries the link to the client's pay page."""
    with uow_factory() as uow:
        if agency_id:
            candidates = uow.for_agency(agency_id).invoices.find(number=number)
        else:  # the platform's (the operator's CLI, the console)
            candidates = uow.platform.invoices.find(number=number)
        found = [
            i for i in candidates if sub_account_id is None or i.sub_account_id == sub_account_id
        ]
        if not found:
            raise NotFoundError(f"invoice {number!r} does not exist")
        invoice = found[0]
        tenant = uow.for_agency(invoice.agency_id)
        if invoice.kind == "wholesale":
            issuer = uow.platform.brand.get()
            recipient = tenant.brand.get()
            name, email = recipient.display_name, recipient.support_email
            if invoice.buyer is None:  # the agency is billed at its brand's address
                buyer = BuyerTaxIdentity(
                    recipient.country, recipient.tax_id, recipient.address_lines
                )
                invoice = replace(invoice, buyer=buyer)
        else:
            issuer = tenant.brand.get()
            sub = tenant.sub_accounts.get(invoice.sub_account_id or "")
            name = sub.name if sub else (invoice.sub_account_id or "")
            email = sub.email if sub else ""
        pay_url = None
        if public_url and invoice.kind == "retail" and invoice.status == "open":
            pay_url = pay_page_url(public_url.rstrip("/"), invoice.agency_id, issuer.domain)
    return renderer.render(
        invoice, issuer, name, email, factur_x=issuer.tax_id is not None, pay_url=pay_url
    )
