"""Finalized documents (invoices, receipts, credit notes) of the bound agency, numbered in
gapless series per issuer; and the platform's reading of them across agencies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from rebill.domain.invoice import InvoiceDraft
from rebill.domain.tax_decision import BuyerTaxIdentity


@dataclass(frozen=True)
class StoredLine:
    code: str
    description: str
    quantity: str
    unit_price: str | None
    amount_minor: int
    tax_minor: int


@dataclass(frozen=True)
class StoredInvoice:
    number: str
    agency_id: str
    issuer: str
    kind: str
    sub_account_id: str | None
    period: str | None
    currency: str
    issued_at: datetime
    status: str
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    tax_label: str
    # The usage summary a period invoice carries (a JSON document, as the invoice shows it).
    usage: dict[str, object] | None
    lines: list[StoredLine] = field(default_factory=list)
    tax_behavior: str = "exclusive"
    credit_of: str | None = None
    # The tax decision (docs/tax.md) and the buyer's tax identity when it was issued.
    tax_treatment: str = "standard"
    buyer: BuyerTaxIdentity | None = None


@dataclass(frozen=True)
class NumberedDraft:
    """A finalized draft with the number it was given and the status it is stored in."""

    draft: InvoiceDraft
    number: str
    status: str


class InvoiceRepository(Protocol):
    def reserve_numbers(self, issuer_prefix: str, kind: str, count: int) -> list[str]:
        """The next `count` numbers of the issuer's series for `kind`, gapless: the counter
        moves in the same transaction as the invoices."""
        ...

    def number_for_key(self, idempotency_key: str) -> str | None:
        """The number of the document finalized with this idempotency key."""
        ...

    def lock(self, number: str) -> None:
        """Hold the invoice until the transaction ends (one charge or refund at a time)."""
        ...

    def mark(self, number: str, status: str) -> str | None:
        """Set the payment status; the previous one, or None if there is no such invoice."""
        ...

    def save(self, documents: Sequence[NumberedDraft]) -> None: ...

    def find(
        self, period: str | None = None, kind: str | None = None, number: str | None = None
    ) -> list[StoredInvoice]:
        """The agency's documents (filtered by what is given), by issue time then number."""
        ...


class InvoiceDirectory(Protocol):
    """Documents across agencies (the platform's)."""

    def find(
        self, period: str | None = None, kind: str | None = None, number: str | None = None
    ) -> list[StoredInvoice]: ...

    def prefix_issued(self, prefix: str) -> bool:
        """Whether any document was ever numbered in one of `prefix`'s series."""
        ...
