"""Who issues an invoice document (the brand it is drawn in) and who receives it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rebill.adapters.pdf.errors import InvoiceDocumentError

_HEX_COLOUR = re.compile(r"^#?([0-9a-fA-F]{6})$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
UNTAXED_VAT_CATEGORIES = ("E", "Z")


@dataclass(frozen=True)
class IssuerBrand:
    """The issuer of a document: an agency for its clients' invoices (white label), the
    platform for an agency's wholesale invoice. Nothing else appears as the issuer.

    `untaxed_vat_category` and `vat_exemption_reason` only matter for the Factur-X XML of an
    invoice that charges no tax at all: EN 16931 category `E` (exempt, with this reason
    text, the default) or `Z` (zero rated, no reason allowed)."""

    name: str
    colour: str
    support_email: str
    address_lines: tuple[str, ...]
    country: str
    tax_id: str | None = None
    logo_png: bytes | None = field(default=None, repr=False)
    untaxed_vat_category: str = "E"
    vat_exemption_reason: str = "VAT not charged on this supply"

    def __post_init__(self) -> None:
        object.__setattr__(self, "address_lines", tuple(self.address_lines))
        if not self.name.strip():
            raise InvoiceDocumentError("the issuer's brand needs a name")
        if not _HEX_COLOUR.match(self.colour):
            raise InvoiceDocumentError(
                f"brand colour {self.colour!r} is not a hex colour like '#1f6feb'"
            )
        if not _COUNTRY.match(self.country):
            raise InvoiceDocumentError(
                f"issuer country {self.country!r} is not an ISO 3166-1 alpha-2 code like 'FR'"
            )
        if self.untaxed_vat_category not in UNTAXED_VAT_CATEGORIES:
            raise InvoiceDocumentError(
                f"untaxed_vat_category must be one of {UNTAXED_VAT_CATEGORIES}, "
                f"not {self.untaxed_vat_category!r}"
            )
        if self.logo_png is not None and not self.logo_png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise InvoiceDocumentError("the brand logo must be PNG bytes")

    @property
    def rgb(self) -> tuple[int, int, int]:
        match = _HEX_COLOUR.match(self.colour)
        assert match is not None
        value = int(match.group(1), 16)
        return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


@dataclass(frozen=True)
class Party:
    """The recipient of an invoice: a client (sub-account) or an agency; `tax_id` is the
    client's (BT-48 when it is a VAT number with its country prefix, else BT-47)."""

    name: str
    email: str
    address_lines: tuple[str, ...]
    country: str
    tax_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "address_lines", tuple(self.address_lines))
        if not self.name.strip():
            raise InvoiceDocumentError("the recipient needs a name")
        if not _COUNTRY.match(self.country):
            raise InvoiceDocumentError(
                f"recipient country {self.country!r} is not an ISO 3166-1 alpha-2 code like 'DE'"
            )
