"""The tax decision of a `manual` tax mode invoice from who sells to whom (docs/tax.md).

A pure rule over the seller's country, the agency's policy and the buyer's tax identity:

- the seller (the agency's brand) states no tax ID: `standard` (an invoice that charges no
  VAT must show the seller's registration, EN 16931 BR-AE-02 / BR-G-02);
- buyer's country unknown, or the seller's own country: `standard` (S, the agency's rate);
- an EU business (valid EU VAT ID) in another member state, sold by an EU seller:
  `reverse_charge` (AE, 0 %);
- outside the seller's tax area (the EU for an EU seller, its own country otherwise):
  `export` (G, 0 %);
- anything else (an EU consumer in another member state): `standard` (S).

The buyer's VAT ID has been validated (check digits) when it was stored; the rule only asks
whether it is an EU VAT number. A buyer without a country but with an EU VAT ID is placed in
the member state of its VAT ID. Modes `none` and `stripe` are left as they are (Stripe Tax
decides in `stripe` mode).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rebill.domain.country import is_eu, vat_country
from rebill.domain.tax import TaxPolicy

REVERSE_CHARGE_MENTION = "Reverse charge - Article 196 of Council Directive 2006/112/EC"
EU_EXPORT_MENTION = "Export outside the EU - VAT not charged (supply outside the EU)"
EXPORT_MENTION = "Export - tax not charged (buyer outside the seller's tax area)"
# EN 16931 VAT exemption reason codes (CEF VATEX list, BT-121).
EXEMPTION_CODES = {"reverse_charge": "VATEX-EU-AE", "export": "VATEX-EU-G"}
CATEGORIES = {"standard": "S", "reverse_charge": "AE", "export": "G"}
address_lines_max = 5
address_line_length_max = 200


@dataclass(frozen=True)
class BuyerTaxIdentity:
    """Who the buyer is for tax: its country (ISO 3166-1 alpha-2), tax ID (compact, already
    validated) and postal address lines."""

    country: str | None = None
    tax_id: str | None = None
    address_lines: tuple[str, ...] = ()

    @property
    def eu_vat_country(self) -> str | None:
        """The member state of the buyer's EU VAT ID, if it has one."""
        return vat_country(self.tax_id) if self.tax_id else None

    @property
    def tax_country(self) -> str | None:
        """Where the buyer is for tax: its country, else its EU VAT ID's member state."""
        return self.country or self.eu_vat_country


@dataclass(frozen=True)
class TaxDecision:
    treatment: str
    why: str

    @property
    def category(self) -> str:
        """EN 16931 VAT category (UNTDID 5305) of the invoice's lines."""
        return CATEGORIES[self.treatment]


def in_tax_area(seller_country: str, buyer_country: str) -> bool:
    """The seller's tax area: the EU for a seller in a member state, else its own country."""
    if is_eu(seller_country):
        return is_eu(buyer_country)
    return buyer_country == seller_country


@dataclass(frozen=True)
class Seller:
    """The seller for tax: the agency's brand country and tax ID."""

    country: str
    tax_id: str | None = None


def decide_tax(seller: Seller, buyer: BuyerTaxIdentity) -> TaxDecision:
    """Which treatment a sale from `seller` to `buyer` gets (the module's table)."""
    if not seller.tax_id:
        return TaxDecision("standard", "seller without a tax ID: the agency's rate")
    seller_country = seller.country
    country = buyer.tax_country
    if country is None:
        return TaxDecision("standard", "buyer country unknown: the agency's rate")
    if country == seller_country:
        return TaxDecision("standard", "same country: the agency's rate")
    if is_eu(seller_country) and is_eu(country) and buyer.eu_vat_country is not None:
        return TaxDecision("reverse_charge", "EU business buyer in another member state")
    if not in_tax_area(seller_country, country):
        return TaxDecision("export", "buyer outside the seller's tax area")
    return TaxDecision("standard", "consumer in another member state: the agency's rate")


def buyer_tax_policy(policy: TaxPolicy, seller: Seller, buyer: BuyerTaxIdentity) -> TaxPolicy:
    """The agency's policy for this buyer: in `manual` mode with the decided treatment."""
    if policy.mode != "manual":
        return policy
    return replace(policy, treatment=decide_tax(seller, buyer).treatment)


def legal_mention(treatment: str, seller_country: str) -> str | None:
    """The text an invoice of this treatment states (also its exemption reason, BT-120)."""
    if treatment == "reverse_charge":
        return REVERSE_CHARGE_MENTION
    if treatment == "export":
        return EU_EXPORT_MENTION if is_eu(seller_country) else EXPORT_MENTION
    return None
