"""Tax per invoice line (BILLING_MODEL §10): modes `none`, `manual` (rate, label, exclusive or
inclusive) and `stripe` (computed by Stripe Tax on the agency's account). Each line's tax is
computed from its rounded amount and rounded once to the minor unit.

A manual policy carries the invoice's `treatment` (docs/tax.md, `rebill.domain.tax_decision`):
`standard` charges the rate; `reverse_charge` and `export` charge nothing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from rebill.domain.money import round_fraction

TAX_MODES = ("none", "manual", "stripe")
TAX_BEHAVIORS = ("exclusive", "inclusive")
TREATMENTS = ("standard", "reverse_charge", "export")
tax_rate_percent_max = Decimal(100)


@dataclass(frozen=True)
class TaxPolicy:
    mode: str = "none"
    rate_percent: Decimal = Decimal(0)
    behavior: str = "exclusive"
    label: str = "Tax"
    treatment: str = "standard"

    def __post_init__(self) -> None:
        assert self.mode in TAX_MODES, self.mode
        assert self.behavior in TAX_BEHAVIORS, self.behavior
        assert self.treatment in TREATMENTS, self.treatment

    @property
    def rate(self) -> Fraction:
        """r = rate / 100, exact."""
        return Fraction(self.rate_percent) / 100

    @property
    def inclusive(self) -> bool:
        """Prices hold their tax (manual inclusive, or what Stripe Tax applied)."""
        return self.mode in ("manual", "stripe") and self.behavior == "inclusive"

    def line_tax_minor(self, amount_minor: int) -> int:
        """Tax of one line in minor units. Exclusive: amount × r. Inclusive: the part of the
        amount that is tax, amount − amount / (1 + r)."""
        if self.mode != "manual" or self.rate == 0 or self.treatment != "standard":
            return 0
        amount = Fraction(amount_minor)
        if self.behavior == "inclusive":
            return round_fraction(amount - amount / (1 + self.rate))
        return round_fraction(amount * self.rate)
