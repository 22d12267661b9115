"""The one failure of invoice documents."""

from __future__ import annotations

from rebill.domain.errors import BillingError


class InvoiceDocumentError(BillingError):
    """An invoice cannot be rendered as asked: bad brand data, or a Factur-X XML that would not
    be valid (schema) or not consistent (EN 16931 sums)."""

    code = "invoice_document_invalid"
