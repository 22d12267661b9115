"""Drawing documents: an invoice as a PDF in its issuer's brand."""

from __future__ import annotations

from typing import Protocol

from rebill.domain.account import Brand
from rebill.services.ports.invoices import StoredInvoice


class InvoiceRenderer(Protocol):
    """Draws an invoice document in its issuer's brand (PDF bytes)."""

    def render(
        self,
        invoice: StoredInvoice,
        issuer: Brand,
        recipient_name: str,
        recipient_email: str,
        factur_x: bool,
        pay_url: str | None = None,
    ) -> bytes:
        """`pay_url`: where the recipient pays an open invoice online (shown as a link)."""
        ...
