"""The values every resource shares: object ids, timestamps, Stripe's form-encoded booleans and
integers, currencies and amounts in the smallest currency unit, and metadata updates."""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

from stripe_test_server.errors import param_error

Obj = dict[str, Any]
_ALPHABET = string.ascii_letters + string.digits
# Stripe's minimum charge amount per currency (smallest unit); 50 where not listed.
MINIMUM_AMOUNTS = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "jpy": 50}
MINIMUM_AMOUNT_DEFAULT = 50
ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "isk", "huf"})
ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def now() -> int:
    return int(time.time())


def truthy(value: Any) -> bool:
    return value is True or value == "true"


def to_int(value: Any, param: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise param_error(
            f"Invalid integer: {value}", param, code="parameter_invalid_integer"
        ) from None


def timestamp(value: Any, param: str) -> int:
    """A unix timestamp parameter, or `now`."""
    if value == "now":
        return now()
    return to_int(value, param)


def parse_currency(value: Any, param: str = "currency") -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise param_error(f"Invalid currency: {value}", param)
    return value.lower()


def minimum_amount(currency: str) -> int:
    return MINIMUM_AMOUNTS.get(currency, MINIMUM_AMOUNT_DEFAULT)


def format_amount(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency}"
    return f"{amount / 100:.2f} {currency}"


def merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Stripe's metadata update: keys merge, an empty value unsets a key, `metadata=""` all."""
    if update == "" or update is None:
        return {} if update == "" else current
    if not isinstance(update, dict):
        raise param_error("Invalid hash", "metadata")
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged
