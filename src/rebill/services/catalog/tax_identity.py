"""A buyer's tax identity as given in a catalog or the API: the country must be an assigned
ISO 3166-1 alpha-2 code; a tax ID is checked with python-stdnum (EU VAT numbers by their
check digits, other countries' VAT numbers where stdnum knows them); an address is a few
lines, like a brand's. Errors are `ValueError`s with a message that names what is wrong (the
catalog's validation adds the field's path)."""

from __future__ import annotations

import re

from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError

from rebill.domain.country import EU_MEMBER_STATES, VAT_PREFIX_COUNTRY, is_country
from rebill.domain.tax_decision import address_line_length_max, address_lines_max

tax_id_length_max = 40
_FREE_FORM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]*$")
_PREFIX_OF = {**{country: country for country in EU_MEMBER_STATES}, "GR": "EL"}


def checked_country(value: str | None) -> str | None:
    if value is None:
        return None
    if not is_country(value):
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. DE, FR, US)")
    return value


def _eu_vat(number: str) -> str:
    try:
        return str(eu_vat.validate(number))
    except StdnumError as exc:
        raise ValueError(
            f"{number!r} is not a valid EU VAT number ({str(exc).rstrip('.').lower()})"
        ) from None


def checked_tax_id(value: str | None, country: str | None) -> str | None:
    """The tax ID in its compact form, or a `ValueError` saying why it is not one.

    An ID that starts with an EU VAT prefix (EL for Greece) is an EU VAT number and must pass
    its check digits; so must the ID of a buyer in a member state (its prefix is added when
    left out). Outside the EU a tax ID is kept as given (letters, digits, spaces, dots,
    dashes and slashes): it decides nothing there (docs/tax.md)."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > tax_id_length_max:
        raise ValueError(f"a tax ID has 1 to {tax_id_length_max} characters")
    compact = re.sub(r"[\s.-]", "", text).upper()
    if compact[:2] in VAT_PREFIX_COUNTRY:
        return _eu_vat(compact)
    if country in EU_MEMBER_STATES:
        return _eu_vat(_PREFIX_OF[country] + compact)
    if not _FREE_FORM.match(text):
        raise ValueError(f"{text!r}: a tax ID has letters, digits, spaces, '.', '-' or '/'")
    return text


def checked_address(lines: list[str]) -> list[str]:
    if len(lines) > address_lines_max:
        raise ValueError(f"an address has at most {address_lines_max} lines")
    for line in lines:
        if len(line) > address_line_length_max:
            raise ValueError(f"an address line has at most {address_line_length_max} characters")
    return [line.strip() for line in lines if line.strip()]
