"""Invoice documents as values: lines with the codes of INTERFACES.md, totals as sums of
rounded lines and rounded taxes, gapless numbering per issuer (BILLING_MODEL §9)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from rebill.domain.money import micros_to_minor
from rebill.domain.tax import TaxPolicy
from rebill.domain.tax_decision import BuyerTaxIdentity

RETAIL_CODES = (
    "plan.fee",
    "plan.proration",
    "number.rental.local",
    "number.rental.toll_free",
    "voice.overage.outbound",
    "voice.overage.inbound",
    "voice.late_usage",
    "credits.purchase",
)
WHOLESALE_CODES = (
    "voice.outbound",
    "voice.inbound",
    "number.local",
    "number.toll_free",
    "platform.fee",
)
KINDS = ("retail", "wholesale", "receipt", "credit_note")
# Receipts (immediate charges paid at once) and credit notes (refunds) have their own gapless
# series per issuer so that period invoices keep the plain `{prefix}-{seq:06d}` series.
RECEIPT_SERIES_SUFFIX = "R"
CREDIT_NOTE_SERIES_SUFFIX = "CN"
SERIES_SUFFIXES = {"receipt": RECEIPT_SERIES_SUFFIX, "credit_note": CREDIT_NOTE_SERIES_SUFFIX}


def invoice_number(prefix: str, sequence: int) -> str:
    return f"{prefix}-{sequence:06d}"


def series_prefix(prefix: str, kind: str) -> str:
    suffix = SERIES_SUFFIXES.get(kind)
    return f"{prefix}-{suffix}" if suffix else prefix


@dataclass(frozen=True)
class InvoiceLine:
    code: str
    description: str
    quantity: str
    unit_price: str | None
    amount_micros: int
    amount_minor: int
    tax_minor: int = 0


@dataclass
class InvoiceDraft:
    """An invoice before it has a number. Lines with a zero amount are left out."""

    kind: str
    issuer: str
    agency_id: str
    sub_account_id: str | None
    period: str | None
    currency: str
    issued_at: datetime
    tax: TaxPolicy
    lines: list[InvoiceLine] = field(default_factory=list)
    usage: dict[str, object] | None = None
    idempotency_key: str = ""
    credit_of: str | None = None  # a credit note: the invoice it corrects
    # The client's tax identity as it stands when the document is issued (docs/tax.md).
    buyer: BuyerTaxIdentity | None = None

    def add_line(
        self,
        code: str,
        description: str,
        quantity: str,
        unit_price: str | None,
        amount_micros: int,
        tax_minor: int | None = None,
    ) -> None:
        """Add a line unless its amount rounds to zero; `tax_minor` overrides the policy's
        tax (a tax computed by the gateway)."""
        amount_minor = micros_to_minor(amount_micros, self.currency)
        if amount_minor == 0:
            return
        self.lines.append(
            InvoiceLine(
                code=code,
                description=description,
                quantity=quantity,
                unit_price=unit_price,
                amount_micros=amount_micros,
                amount_minor=amount_minor,
                tax_minor=(
                    self.tax.line_tax_minor(amount_minor) if tax_minor is None else tax_minor
                ),
            )
        )

    def set_line_taxes(self, taxes: list[int]) -> None:
        """Each line's tax as a gateway computed it (Stripe Tax), in line order."""
        assert len(taxes) == len(self.lines), "one tax per line"
        self.lines = [replace(line, tax_minor=t) for line, t in zip(self.lines, taxes, strict=True)]

    def totals_minor(self) -> tuple[int, int, int]:
        """(subtotal, tax, total) in one pass over the lines: the properties below, together."""
        subtotal = tax = 0
        for line in self.lines:
            subtotal += line.amount_minor
            tax += line.tax_minor
        return subtotal, tax, subtotal if self.tax.inclusive else subtotal + tax

    @property
    def subtotal_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    @property
    def tax_minor(self) -> int:
        return sum(line.tax_minor for line in self.lines)

    @property
    def total_minor(self) -> int:
        if self.tax.inclusive:
            return self.subtotal_minor
        return self.subtotal_minor + self.tax_minor

    @property
    def net_minor(self) -> int:
        """Revenue part of the total (total less tax)."""
        return self.total_minor - self.tax_minor
