"""A small tax engine standing in for Stripe Tax: a rate table per country (and US state),
applied only where the account holds an active registration; exclusive prices get the tax on
top, inclusive prices carry it inside."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Standard rates (percent). Countries not listed tax at 0.
COUNTRY_RATES: dict[str, Decimal] = {
    "AT": Decimal("20"),
    "AU": Decimal("10"),
    "BE": Decimal("21"),
    "CA": Decimal("5"),
    "CH": Decimal("8.1"),
    "DE": Decimal("19"),
    "DK": Decimal("25"),
    "ES": Decimal("21"),
    "FI": Decimal("25.5"),
    "FR": Decimal("20"),
    "GB": Decimal("20"),
    "IE": Decimal("23"),
    "IT": Decimal("22"),
    "NL": Decimal("21"),
    "NO": Decimal("25"),
    "PL": Decimal("23"),
    "PT": Decimal("23"),
    "SE": Decimal("25"),
}
# US: state sales tax (state level only), 0 elsewhere in the US.
US_STATE_RATES: dict[str, Decimal] = {
    "CA": Decimal("7.25"),
    "FL": Decimal("6"),
    "IL": Decimal("6.25"),
    "NY": Decimal("4"),
    "TX": Decimal("6.25"),
    "WA": Decimal("6.5"),
}
EXCLUSIVE_CURRENCIES = frozenset({"usd", "cad"})
NONTAXABLE_CODE = "txcd_00000000"
TAX_TYPES = {"US": "sales_tax", "CA": "gst", "AU": "gst", "CH": "vat"}


@dataclass(frozen=True)
class Location:
    country: str
    state: str | None = None
    source: str = "billing_address"


@dataclass(frozen=True)
class LineTax:
    amount_subtotal: int
    amount_tax: int
    amount_total: int
    percentage: Decimal
    inclusive: bool
    taxability_reason: str


def resolve_behavior(behavior: str | None, currency: str) -> str:
    """`inferred_by_currency`: exclusive for USD and CAD, inclusive otherwise (Stripe's rule)."""
    if behavior in ("exclusive", "inclusive"):
        return behavior
    return "exclusive" if currency.lower() in EXCLUSIVE_CURRENCIES else "inclusive"


def rate_for(location: Location | None, registrations: list[dict[str, object]]) -> Decimal:
    """The rate applying at the location, or 0 when the account is not registered there."""
    if location is None:
        return Decimal(0)
    country = location.country.upper()
    for registration in registrations:
        if registration.get("status") != "active" or registration.get("country") != country:
            continue
        if country == "US":
            options = registration.get("country_options")
            us = options.get("us") if isinstance(options, dict) else None
            state = us.get("state") if isinstance(us, dict) else None
            if state and location.state and str(state).upper() == location.state.upper():
                return US_STATE_RATES.get(location.state.upper(), Decimal(0))
            continue
        return COUNTRY_RATES.get(country, Decimal(0))
    return Decimal(0)


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def line_tax(amount: int, percentage: Decimal, behavior: str, tax_code: str | None) -> LineTax:
    inclusive = behavior == "inclusive"
    if tax_code == NONTAXABLE_CODE:
        return LineTax(amount, 0, amount, Decimal(0), inclusive, "product_exempt")
    if percentage == 0:
        return LineTax(amount, 0, amount, Decimal(0), inclusive, "not_collecting")
    rate = percentage / Decimal(100)
    if inclusive:
        tax = amount - _round(Decimal(amount) / (1 + rate))
        return LineTax(amount, tax, amount, percentage, True, "standard_rated")
    tax = _round(Decimal(amount) * rate)
    return LineTax(amount, tax, amount + tax, percentage, False, "standard_rated")


def tax_type(country: str) -> str:
    return TAX_TYPES.get(country.upper(), "vat")
