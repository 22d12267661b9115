"""The parties (BILLING_MODEL §1): the platform, an agency and its sub-accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from rebill.domain.caps import Caps
from rebill.domain.plan import Limits
from rebill.domain.tax import TaxPolicy
from rebill.domain.tax_decision import BuyerTaxIdentity

SUB_ACCOUNT_STATES = ("active", "suspended", "closed")


@dataclass(frozen=True)
class Brand:
    """How a party presents itself to those it bills: every document, e-mail and portal page
    a client sees carries its agency's brand, never the platform's."""

    display_name: str
    colour: str = "#1f6feb"
    support_email: str = ""
    address_lines: tuple[str, ...] = ()
    country: str = "US"
    tax_id: str | None = None
    domain: str | None = None
    logo_png: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Platform:
    name: str
    currency: str
    invoice_prefix: str


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    timezone: str
    invoice_prefix: str
    currency: str
    tax: TaxPolicy
    credit_limit_micros: int | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class SubAccount:
    agency_id: str
    id: str
    name: str
    email: str
    state: str = "active"
    limits: Limits = field(default_factory=Limits)
    caps: Caps = field(default_factory=Caps)
    top_up_threshold_micros: int | None = None
    top_up_amount_micros: int | None = None
    # Who the client is for tax (docs/tax.md): country, tax ID and address.
    tax_identity: BuyerTaxIdentity = field(default_factory=BuyerTaxIdentity)
