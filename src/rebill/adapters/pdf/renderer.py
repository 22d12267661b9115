"""The `InvoiceRenderer` port on top of `render_invoice_pdf`."""

from __future__ import annotations

from rebill.adapters.pdf.brand import IssuerBrand, Party
from rebill.adapters.pdf.invoice import render_invoice_pdf
from rebill.domain.account import Brand
from rebill.services.ports import StoredInvoice


class PdfInvoiceRenderer:
    def render(
        self,
        invoice: StoredInvoice,
        issuer: Brand,
        recipient_name: str,
        recipient_email: str,
        factur_x: bool,
        pay_url: str | None = None,
    ) -> bytes:
        brand = IssuerBrand(
            name=issuer.display_name,
            colour=issuer.colour,
            support_email=issuer.support_email,
            address_lines=issuer.address_lines,
            country=issuer.country,
            tax_id=issuer.tax_id,
            logo_png=issuer.logo_png,
        )
        # The client's tax identity as it was when the document was issued (docs/tax.md);
        # documents without one are addressed in the issuer's country, as before.
        buyer = invoice.buyer
        party = Party(
            name=recipient_name,
            email=recipient_email,
            address_lines=buyer.address_lines if buyer else (),
            country=(buyer.tax_country if buyer else None) or issuer.country,
            tax_id=buyer.tax_id if buyer else None,
        )
        return render_invoice_pdf(invoice, brand, party, factur_x, pay_url=pay_url)
