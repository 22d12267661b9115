"""Exact money: parsing decimal text, micro-units, currencies, and the one rounding function.

Amounts live as integers: *micros* (10^-6 of the currency unit) for costs, ledger postings and
aggregates, *minor units* (cents for USD) for invoice lines and taxes. Every rounding in rebill
goes through `round_div`, half away from zero (ROUND_HALF_UP). Floats are refused everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

MICROS_PER_UNIT = 1_000_000
MICRO_DECIMALS = 6
# A rate or price with more decimals than this cannot be held exactly in micro-units.
rate_decimals_max = MICRO_DECIMALS
# Guard against absurd amounts (10^12 currency units); keeps every sum inside int64 micros.
amount_units_max = 10**12

# ISO 4217 minor-unit exponents that differ from 2. Everything else has 2.
_EXPONENT_EXCEPTIONS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_DECIMAL_RE = re.compile(r"^-?(\d+)(\.(\d+))?$", re.ASCII)


def round_div(numerator: int, denominator: int) -> int:
    """The one rounding function: numerator / denominator to the nearest integer, half away
    from zero (ROUND_HALF_UP on both signs). Callers express the value in the target unit."""
    assert denominator > 0, "denominator must be positive"
    if type(numerator) is not int:
        raise TypeError("round_div takes integers; convert exact values first")
    if numerator >= 0:
        return int((2 * numerator + denominator) // (2 * denominator))
    return -int((2 * -numerator + denominator) // (2 * denominator))


def round_fraction(value: Fraction) -> int:
    """Round an exact rational to an integer with the one rule (see `round_div`)."""
    return round_div(value.numerator, value.denominator)


def currency_exponent(currency: str) -> int:
    """ISO 4217 exponent: USD 2, JPY 0, KWD 3."""
    return _EXPONENT_EXCEPTIONS.get(currency, 2)


def is_currency_code(text: str) -> bool:
    return bool(_CURRENCY_RE.match(text))


def micros_per_minor(currency: str) -> int:
    unit = _MICROS_PER_MINOR.get(currency)
    if unit is None:
        unit = _MICROS_PER_MINOR[currency] = int(
            10 ** (MICRO_DECIMALS - currency_exponent(currency))
        )
    return unit


_MICROS_PER_MINOR: dict[str, int] = {}  # by currency code, as computed (invoices ask per line)


def micros_to_minor(amount_micros: int, currency: str) -> int:
    """Round an exact micro-unit sum to the currency's minor unit (an invoice line)."""
    return round_div(amount_micros, micros_per_minor(currency))


def parse_decimal(value: object) -> Decimal:
    """Exact decimal from text, int or Decimal. Floats are refused: they are not exact."""
    if isinstance(value, bool | float):
        raise TypeError('binary floats are not exact; write the amount as a string like "12.50"')
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_RE.match(text):
            raise ValueError(f'{value!r} is not a decimal number like "12.50"')
        try:
            result = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - regex already guards
            raise ValueError(f"{value!r} is not a decimal number") from exc
    else:
        raise TypeError(f"expected a decimal string, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def decimal_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def places_needed(value: Decimal) -> int:
    """The decimal places `value` needs, trailing zeros not counted ("12.50" needs 1), read
    from its digits and exponent: `normalize()` would round 1e-999999999 to 0 (0 places)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if not any(digits):
        return 0
    zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + zeros))


def to_micros(value: object) -> int:
    """Exact micro-units of a decimal amount or rate; more than 6 decimals is an error."""
    number = parse_decimal(value)
    if places_needed(number) > MICRO_DECIMALS:
        raise ValueError(f"{value} has more than {MICRO_DECIMALS} decimal places")
    if abs(number) > amount_units_max:
        raise ValueError(f"{value} is too large (at most {amount_units_max})")
    micros = number * MICROS_PER_UNIT
    assert micros == micros.to_integral_value()
    return int(micros)


def format_scaled(value: int, decimals: int) -> str:
    """Text of an integer count of 10^-decimals units: format_scaled(1250, 2) == '12.50'."""
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(decimals + 1, "0")
    if decimals == 0:
        return sign + digits
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def format_minor(amount_minor: int, currency: str) -> str:
    return format_scaled(amount_minor, currency_exponent(currency))


def format_micros_as_minor(amount_micros: int, currency: str) -> str:
    """Display an exact micro amount rounded to the minor unit (a report figure)."""
    return format_minor(micros_to_minor(amount_micros, currency), currency)


def format_rate(rate_micros: int, decimals: int, currency: str) -> str:
    """A unit price as written in the catalog (`decimals`), never fewer than the minor digits."""
    shown = max(decimals, currency_exponent(currency))
    shown = min(shown, MICRO_DECIMALS)
    scaled = rate_micros // 10 ** (MICRO_DECIMALS - shown)
    assert scaled * 10 ** (MICRO_DECIMALS - shown) == rate_micros, "rate decimals too few"
    return format_scaled(scaled, shown)


def format_quantity(value: Fraction, decimals: int) -> str:
    """A quantity (minutes, counts) shown with `decimals` places, rounded by the one rule."""
    return format_scaled(round_fraction(value * 10**decimals), decimals)


def minutes_text(seconds: Fraction | int) -> str:
    """Seconds as minutes with three decimals, the way invoices and summaries show them:
    `format_quantity(Fraction(seconds) / 60, 3)`, computed on integers (the rounding depends
    only on the value of the quotient, not on how it is written)."""
    if type(seconds) is int:
        if seconds == 0:  # most counters of most clients
            return "0.000"
        return format_scaled(round_div(seconds * 1000, 60), 3)
    value = Fraction(seconds)
    return format_scaled(round_div(value.numerator * 1000, value.denominator * 60), 3)


def scaled_minutes_text(seconds_scaled: int, scale: int) -> str:
    """`minutes_text(Fraction(seconds_scaled, scale))` without building the fraction: the
    rounding depends only on the value of the quotient."""
    if seconds_scaled == 0:
        return "0.000"
    return format_scaled(round_div(seconds_scaled * 1000, scale * 60), 3)


@dataclass(frozen=True, order=True)
class Money:
    """An exact amount of one currency in micro-units. Arithmetic refuses mixed currencies."""

    micros: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.micros) is not int:
            raise TypeError(f"Money holds integer micro-units, not {type(self.micros).__name__}")
        if not is_currency_code(self.currency):
            raise ValueError(f"{self.currency!r} is not an ISO 4217 currency code")

    @classmethod
    def parse(cls, value: object, currency: str) -> Money:
        return cls(to_micros(value), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency} in one operation")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.micros + other.micros, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.micros - other.micros, self.currency)

    def minor(self) -> int:
        return micros_to_minor(self.micros, self.currency)

    def text(self) -> str:
        """Rounded to the minor unit for display: '12.50'."""
        return format_minor(self.minor(), self.currency)
