"""Numbers for people, one formatter per locale (Babel): `2388.00` in USD reads `$2,388.00`,
`2958.400` minutes read `2,958.4`. The view models hand the templates exact decimal text;
these filters only change how it is written, never its value (no floats)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, format_decimal

LOCALE = "en_US"


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def money(value: object, currency: str, locale: str = LOCALE) -> str:
    """`2388.00`, USD -> `$2,388.00`; text that is no number is shown as given."""
    number = _decimal(value)
    if number is None or not currency:
        return "" if value is None else str(value)
    return str(format_currency(number, currency, locale=locale))


def quantity(value: object, locale: str = LOCALE) -> str:
    """`2958.400` -> `2,958.4` (up to three decimals, none when whole)."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    return str(format_decimal(number, format="#,##0.###", locale=locale))
