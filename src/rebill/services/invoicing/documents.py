"""Invoice documents: the PDF of an invoice in its issuer's brand (the agency for its clients,
the platform for an agency's wholesale invoice), with Factur-X when the issuer has a tax ID."""

from __future__ import annotations

from rebill.domain.errors import NotFoundError
from rebill.services.ports import InvoiceRenderer, UnitOfWorkFactory


def invoice_pdf(
    uow_factory: UnitOfWorkFactory,
    renderer: InvoiceRenderer,
    number: str,
    agency_id: str | None = None,
    sub_account_id: str | None = None,
) -> bytes:
    """The PDF of invoice `number`, seen from a tenant when `agency_id` (and a sub-account)
    are given: another tenant's invoice is not found."""
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
        else:
            issuer = tenant.brand.get()
            sub = tenant.sub_accounts.get(invoice.sub_account_id or "")
            name = sub.name if sub else (invoice.sub_account_id or "")
            email = sub.email if sub else ""
    return renderer.render(invoice, issuer, name, email, factur_x=issuer.tax_id is not None)
