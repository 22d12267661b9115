"""The Factur-X XML of every VAT category held against the official EN 16931 CII schematron
(Saxon-HE): standard rated (exclusive and inclusive), exempt, zero rated, reverse charge
(AE), export (G) and not subject to VAT (O, an export by a seller without a VAT number); no
fatal assertion. The buyer's tax ID, country and address are in the XML, and the legal
mentions are on the PDF and in the notes (docs/tax.md)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from rebill.adapters.pdf import IssuerBrand, Party, facturx_xml, render_invoice_pdf
from rebill.domain.tax_decision import EU_EXPORT_MENTION, EXPORT_MENTION, REVERSE_CHARGE_MENTION
from rebill.services.ports import StoredInvoice
from tests.integration.test_invoice_pdf import (
    AGENCY,
    CLIENT,
    embedded_xml,
    pdf_text,
    summation,
    vat_exclusive,
    vat_inclusive,
    worked_month,
)
from tests.schematron import assert_en16931_valid, fatal_failures

NS = facturx_xml.NS
GERMAN_BUSINESS = Party(
    name="Zahnarzt Praxis GmbH",
    email="rechnung@praxis.test",
    address_lines=("Friedrichstrasse 10", "10117 Berlin"),
    country="DE",
    tax_id="DE136695976",
)
US_CLIENT = Party(
    name="Bright Dental Inc.",
    email="billing@bright.test",
    address_lines=("1 Main St", "Springfield, IL 62701"),
    country="US",
    tax_id="12-3456789",
)
US_AGENCY = IssuerBrand(
    name="Acme Voice LLC",
    colour="#1f6feb",
    support_email="help@acme.test",
    address_lines=("5 Market St", "San Francisco, CA"),
    country="US",
    tax_id="98-7654321",
)


def reverse_charge() -> StoredInvoice:
    return worked_month(tax_treatment="reverse_charge", tax_label="VAT")


def export() -> StoredInvoice:
    return worked_month(tax_treatment="export", tax_label="VAT")


CASES = {
    "S exclusive": (vat_exclusive(), AGENCY, CLIENT, {"S"}),
    "S inclusive": (vat_inclusive(), AGENCY, CLIENT, {"S"}),
    "E exempt": (worked_month(), AGENCY, CLIENT, {"E"}),
    "Z zero rated": (worked_month(), replace(AGENCY, untaxed_vat_category="Z"), CLIENT, {"Z"}),
    "AE reverse charge": (reverse_charge(), AGENCY, GERMAN_BUSINESS, {"AE"}),
    "G export": (export(), AGENCY, US_CLIENT, {"G"}),
    "G export, buyer without tax ID": (export(), AGENCY, CLIENT, {"G"}),
    "O export by a seller without VAT number": (export(), US_AGENCY, US_CLIENT, {"O"}),
    "S by a seller without VAT number": (vat_exclusive(), US_AGENCY, US_CLIENT, {"S"}),
    "paid receipt, reverse charge": (
        replace(reverse_charge(), status="paid"),
        AGENCY,
        GERMAN_BUSINESS,
        {"AE"},
    ),
}


def categories(xml: bytes) -> set[str]:
    root = ET.fromstring(xml)
    return {
        e.text or ""
        for e in root.iterfind(
            "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
            "ram:ApplicableTradeTax/ram:CategoryCode",
            NS,
        )
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_category_passes_the_en16931_schematron(case: str) -> None:
    invoice, issuer, buyer, expected = CASES[case]
    pdf = render_invoice_pdf(invoice, issuer, buyer, factur_x=True)
    xml = embedded_xml(pdf)
    assert categories(xml) == expected
    assert_en16931_valid(xml)


def test_reverse_charge_carries_the_buyer_and_the_legal_mention() -> None:
    pdf = render_invoice_pdf(reverse_charge(), AGENCY, GERMAN_BUSINESS, factur_x=True)
    xml = embedded_xml(pdf)
    root = ET.fromstring(xml)
    buyer = root.find(".//ram:BuyerTradeParty", NS)
    assert buyer is not None
    vat = buyer.find("ram:SpecifiedTaxRegistration/ram:ID", NS)
    assert vat is not None and (vat.text, vat.get("schemeID")) == ("DE136695976", "VA")
    assert buyer.findtext("ram:PostalTradeAddress/ram:CountryID", None, NS) == "DE"
    assert buyer.findtext("ram:PostalTradeAddress/ram:LineOne", None, NS) == "Friedrichstrasse 10"
    breakdown = root.find(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS)
    assert breakdown is not None
    assert breakdown.findtext("ram:ExemptionReason", None, NS) == REVERSE_CHARGE_MENTION
    assert breakdown.findtext("ram:ExemptionReasonCode", None, NS) == "VATEX-EU-AE"
    assert breakdown.findtext("ram:RateApplicablePercent", None, NS) == "0"
    notes = [n.text for n in root.iterfind(".//ram:IncludedNote/ram:Content", NS)]
    assert REVERSE_CHARGE_MENTION in notes
    text = pdf_text(pdf)
    assert REVERSE_CHARGE_MENTION in text
    assert "Tax ID: DE136695976" in text


def test_export_states_why_no_vat_is_charged() -> None:
    pdf = render_invoice_pdf(export(), AGENCY, US_CLIENT, factur_x=True)
    xml = embedded_xml(pdf)
    root = ET.fromstring(xml)
    breakdown = root.find(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS)
    assert breakdown is not None
    assert breakdown.findtext("ram:ExemptionReason", None, NS) == EU_EXPORT_MENTION
    assert breakdown.findtext("ram:ExemptionReasonCode", None, NS) == "VATEX-EU-G"
    # A US tax number is not a VAT identifier: it is the buyer's legal registration (BT-47).
    legal = root.findtext(".//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID", None, NS)
    assert legal == "12-3456789"
    assert EU_EXPORT_MENTION in pdf_text(pdf)
    us_pdf = render_invoice_pdf(export(), US_AGENCY, US_CLIENT, factur_x=True)
    assert EXPORT_MENTION in pdf_text(us_pdf)


def test_the_schematron_catches_what_breaks_the_rules() -> None:
    """The check can fail: a reverse charge without the buyer's VAT identifier breaks
    BR-AE-02, and an export breakdown without its reason breaks BR-G-10."""
    anonymous = replace(GERMAN_BUSINESS, tax_id=None)
    xml = facturx_xml.build_cii_xml(reverse_charge(), AGENCY, anonymous)
    assert any(f.startswith("BR-AE-02") for f in fatal_failures(xml))
    xml = facturx_xml.build_cii_xml(export(), AGENCY, US_CLIENT)
    broken = re.sub(rb"<ram:ExemptionReason(Code)?>[^<]*</ram:ExemptionReason(Code)?>", b"", xml)
    assert any(f.startswith("BR-G-10") for f in fatal_failures(broken))


def test_documents_with_the_new_presentation_stay_en16931_valid() -> None:
    """Issue 15: a pay link, a due date and a proration note change the PDF only."""
    url = "https://portal.acme.example/client/invoices"
    prorated = worked_month(
        lines=[
            replace(worked_month().lines[0]),
            replace(worked_month().lines[1], code="plan.proration", unit_price="98.00"),
            replace(worked_month().lines[2]),
        ]
    )
    pdf = render_invoice_pdf(prorated, AGENCY, CLIENT, factur_x=True, pay_url=url)
    text = pdf_text(pdf)
    assert f"Pay online: {url}" in text and "1 × 98.00 × 15/30 days = 49.00" in text
    assert_en16931_valid(embedded_xml(pdf))


def test_a_credit_note_is_typed_381_and_names_the_invoice_it_credits() -> None:
    credit = replace(
        worked_month(),
        number="ACME-CN-000001",
        kind="credit_note",
        credit_of="ACME-000007",
        status="issued",
    )
    xml = embedded_xml(render_invoice_pdf(credit, AGENCY, CLIENT, factur_x=True))
    root = ET.fromstring(xml)
    assert root.findtext("rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "381"
    settlement = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
    referenced = f"{settlement}ram:InvoiceReferencedDocument/ram:IssuerAssignedID"
    assert root.findtext(referenced, namespaces=NS) == "ACME-000007"
    sums = summation(xml)
    assert sums["DuePayableAmount"] == "0.00"  # the refund is made
    assert_en16931_valid(xml)


def test_an_open_invoice_carries_its_due_date() -> None:
    xml = embedded_xml(render_invoice_pdf(worked_month(), AGENCY, CLIENT, factur_x=True))
    due = (
        "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
        "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString"
    )
    assert ET.fromstring(xml).findtext(due, namespaces=NS) == "20261201"
