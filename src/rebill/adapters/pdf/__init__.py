"""Invoice documents: a PDF per invoice in the issuer's brand (fpdf2), with an embedded
Factur-X (EN 16931) XML for issuers that have a tax ID (the `factur-x` library)."""

from rebill.adapters.pdf.brand import IssuerBrand, Party
from rebill.adapters.pdf.errors import InvoiceDocumentError
from rebill.adapters.pdf.invoice import render_invoice_pdf

__all__ = ["InvoiceDocumentError", "IssuerBrand", "Party", "render_invoice_pdf"]
