"""The tax decision of a manual-mode invoice (docs/tax.md): one row per case of the table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rebill.domain.country import is_country, vat_country
from rebill.domain.tax import TaxPolicy
from rebill.domain.tax_decision import (
    REVERSE_CHARGE_MENTION,
    BuyerTaxIdentity,
    Seller,
    buyer_tax_policy,
    decide_tax,
    legal_mention,
)

VAT_20 = TaxPolicy("manual", Decimal(20), "exclusive", "VAT")
SELLER_IDS = {"FR": "FR40303265045", "US": "98-7654321", "GB": "GB980780684"}

CASES = [
    # seller, buyer country, buyer tax id, treatment, category
    ("FR", "FR", None, "standard", "S"),
    ("FR", "FR", "FR40303265045", "standard", "S"),
    ("FR", "DE", "DE136695976", "reverse_charge", "AE"),
    ("FR", "GR", "EL094259216", "reverse_charge", "AE"),
    ("FR", None, "DE136695976", "reverse_charge", "AE"),  # placed by its VAT ID
    ("FR", "DE", None, "standard", "S"),  # EU consumer in another member state
    ("FR", "US", None, "export", "G"),
    ("FR", "US", "12-3456789", "export", "G"),
    ("FR", "CH", "CHE116281710", "export", "G"),
    ("FR", "GB", "GB980780684", "export", "G"),
    ("FR", None, None, "standard", "S"),  # nowhere known: the agency's rate
    ("US", "US", None, "standard", "S"),
    ("US", "CA", None, "export", "G"),
    ("US", "DE", "DE136695976", "export", "G"),  # outside a non-EU seller's area
    ("GB", "FR", "FR40303265045", "export", "G"),
]


@pytest.mark.parametrize(("seller", "country", "tax_id", "treatment", "category"), CASES)
def test_decision_table(
    seller: str, country: str | None, tax_id: str | None, treatment: str, category: str
) -> None:
    decision = decide_tax(Seller(seller, SELLER_IDS[seller]), BuyerTaxIdentity(country, tax_id))
    assert (decision.treatment, decision.category) == (treatment, category), decision.why
    # A seller that states no tax ID charges its rate whoever buys.
    unregistered = decide_tax(Seller(seller), BuyerTaxIdentity(country, tax_id))
    assert (unregistered.treatment, unregistered.category) == ("standard", "S")


@pytest.mark.parametrize(("seller", "country", "tax_id", "treatment", "category"), CASES)
def test_the_policy_charges_the_rate_only_when_standard(
    seller: str, country: str | None, tax_id: str | None, treatment: str, category: str
) -> None:
    registered = Seller(seller, SELLER_IDS[seller])
    policy = buyer_tax_policy(VAT_20, registered, BuyerTaxIdentity(country, tax_id))
    assert policy.treatment == treatment
    assert policy.line_tax_minor(10_000) == (2_000 if treatment == "standard" else 0)
    inclusive = buyer_tax_policy(
        TaxPolicy("manual", Decimal(20), "inclusive", "VAT"),
        registered,
        BuyerTaxIdentity(country, tax_id),
    )
    assert inclusive.line_tax_minor(12_000) == (2_000 if treatment == "standard" else 0)


@pytest.mark.parametrize("mode", ["none", "stripe"])
def test_other_modes_are_left_alone(mode: str) -> None:
    policy = TaxPolicy(mode)
    seller = Seller("FR", "FR40303265045")
    assert buyer_tax_policy(policy, seller, BuyerTaxIdentity("DE", "DE136695976")) == policy


def test_legal_mentions() -> None:
    assert legal_mention("reverse_charge", "FR") == REVERSE_CHARGE_MENTION
    assert legal_mention("export", "FR") is not None
    assert "EU" in (legal_mention("export", "FR") or "")
    assert "EU" not in (legal_mention("export", "US") or "EU")
    assert legal_mention("standard", "FR") is None


def test_countries() -> None:
    assert is_country("DE") and is_country("US") and is_country("GR")
    assert not is_country("XX") and not is_country("EL") and not is_country("de")
    assert vat_country("EL094259216") == vat_country("GR094259216") == "GR"
    assert vat_country("GB980780684") is None
