"""Invoice PDFs: the text read back from the PDF carries the invoice's figures and only the
issuer's brand; the embedded Factur-X XML carries the same figures and is valid (XSD +
EN 16931 sums). A sample of each document is saved as a test artifact."""

from __future__ import annotations

import io
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import facturx  # type: ignore[import-untyped]
import pypdf
import pytest

from rebill.adapters.pdf import (
    InvoiceDocumentError,
    IssuerBrand,
    Party,
    facturx_xml,
    render_invoice_pdf,
)
from rebill.services.ports import StoredInvoice, StoredLine

PLATFORM_NAME = "Rebill Cloud"
NS = facturx_xml.NS
SUMS = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
USAGE = {
    "billable_minutes": "128.000",
    "included_minutes_used": "100.000",
    "credit_minutes": "0.000",
    "postpaid_minutes": "28.000",
    "numbers": 1,
    "campaigns": 2,
}

AGENCY = IssuerBrand(
    name="Acme Voice",
    colour="#1f6feb",
    support_email="help@acme-voice.test",
    address_lines=("12 rue de la Paix", "75002 Paris"),
    country="FR",
    tax_id="FR40303265045",
)
CLIENT = Party(
    name="Dental Clinic Zürich",
    email="billing@dental.test",
    address_lines=("Bahnhofstrasse 1", "8001 Zürich"),
    country="CH",
)


def _line(
    code: str, description: str, quantity: str, price: str | None, amount: int, tax: int
) -> StoredLine:
    return StoredLine(code, description, quantity, price, amount, tax)


def worked_month(**changes: object) -> StoredInvoice:
    """The worked month of the billing model: 52.42 EUR, no tax."""
    invoice = StoredInvoice(
        number="ACME-000007",
        agency_id="acme",
        issuer="ACME",
        kind="retail",
        sub_account_id="dental",
        period="2026-11",
        currency="EUR",
        issued_at=datetime(2026, 12, 1, tzinfo=UTC),
        status="open",
        subtotal_minor=5242,
        tax_minor=0,
        total_minor=5242,
        tax_label="Tax",
        usage=dict(USAGE),
        lines=[
            _line(
                "voice.overage.inbound",
                "Inbound minutes beyond the plan, 2026-11",
                "28.000",
                "0.015",
                42,
                0,
            ),
            _line("plan.fee", "Starter plan, 2026-12", "1", "49.00", 4900, 0),
            _line("number.rental.local", "local numbers, 2026-12", "1", "3.00", 300, 0),
        ],
    )
    return replace(invoice, **changes)  # type: ignore[arg-type]


def vat_exclusive() -> StoredInvoice:
    """The same month with VAT 20% on top: 52.42 + 10.48 = 62.90."""
    base = worked_month()
    lines = [replace(ln, tax_minor=t) for ln, t in zip(base.lines, (8, 980, 60), strict=True)]
    return replace(base, lines=lines, tax_minor=1048, total_minor=6290, tax_label="VAT 20%")


def vat_inclusive() -> StoredInvoice:
    """VAT 20% included in the line amounts: each line's tax is a - a/1.2, rounded once."""
    base = worked_month()
    lines = [replace(ln, tax_minor=t) for ln, t in zip(base.lines, (7, 817, 50), strict=True)]
    return replace(base, lines=lines, tax_minor=874, total_minor=5242, tax_label="VAT 20% incl.")


def artifacts_dir(tmp_path: Path) -> Path:
    if os.environ.get("REBILL_TEST_ARTIFACTS"):
        target = Path(__file__).resolve().parents[2] / "test-artifacts" / "invoice-pdf"
    else:
        target = tmp_path / "artifacts"
    target.mkdir(parents=True, exist_ok=True)
    return target


def pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def embedded_xml(pdf: bytes) -> bytes:
    """The Factur-X XML, read by the factur-x library (XSD-checked) and by pypdf alike."""
    name, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert name == "factur-x.xml", "no valid Factur-X XML in the PDF"
    attachments = pypdf.PdfReader(io.BytesIO(pdf)).attachments
    assert attachments["factur-x.xml"] == [xml]
    return bytes(xml)


def summation(xml: bytes) -> dict[str, str]:
    sums = ET.fromstring(xml).find(SUMS, NS)
    assert sums is not None
    return {child.tag.split("}")[1]: (child.text or "") for child in sums}


def line_amounts(xml: bytes) -> list[str]:
    root = ET.fromstring(xml)
    return [
        el.text or ""
        for el in root.iterfind(
            ".//ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedLineTradeSettlement/"
            "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
            NS,
        )
    ]


def breakdowns(xml: bytes) -> list[dict[str, str]]:
    root = ET.fromstring(xml)
    header = root.find("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement", NS)
    assert header is not None
    return [
        {child.tag.split("}")[1]: (child.text or "") for child in tax}
        for tax in header.findall("ram:ApplicableTradeTax", NS)
    ]


def test_worked_month_pdf_shows_lines_totals_usage_and_status(tmp_path: Path) -> None:
    invoice = worked_month()
    pdf = render_invoice_pdf(invoice, AGENCY, CLIENT, factur_x=False)
    (artifacts_dir(tmp_path) / "worked-month.pdf").write_bytes(pdf)

    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    for expected in (
        "Acme Voice",
        "ACME-000007",
        "2026-12-01",
        "2026-11",
        "Dental Clinic Zürich",
        "voice.overage.inbound",
        "0.42",
        "49.00",
        "3.00",
        "Subtotal 52.42 EUR",
        "Total (EUR) 52.42 EUR",
        "DUE",
        "Minutes used 128.000",
        "Included minutes used 100.000",
        "Minutes paid from credits 0.000",
        "Postpaid minutes 28.000",
        "Campaigns 2",
    ):
        assert expected in text, expected
    assert "PAID" not in text
    assert PLATFORM_NAME not in text
    assert not pypdf.PdfReader(io.BytesIO(pdf)).attachments


def test_vat_exclusive_factur_x_carries_the_same_totals(tmp_path: Path) -> None:
    invoice = vat_exclusive()
    pdf = render_invoice_pdf(invoice, AGENCY, CLIENT, factur_x=True)
    (artifacts_dir(tmp_path) / "vat-exclusive-factur-x.pdf").write_bytes(pdf)

    text = pdf_text(pdf)
    for expected in ("Subtotal 52.42 EUR", "VAT 20% 10.48 EUR", "Total (EUR) 62.90 EUR", "9.80"):
        assert expected in text, expected

    xml = embedded_xml(pdf)
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    root = ET.fromstring(xml)
    assert root.findtext("rsm:ExchangedDocument/ram:ID", None, NS) == "ACME-000007"
    assert (
        root.findtext("rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString", None, NS)
        == "20261201"
    )
    assert root.findtext(".//ram:SellerTradeParty/ram:Name", None, NS) == "Acme Voice"
    assert root.findtext(".//ram:BuyerTradeParty/ram:Name", None, NS) == "Dental Clinic Zürich"
    assert (
        root.findtext(".//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID", None, NS)
        == "FR40303265045"
    )
    assert root.findtext(".//ram:InvoiceCurrencyCode", None, NS) == "EUR"
    assert line_amounts(xml) == ["0.42", "49.00", "3.00"]
    assert summation(xml) == {
        "LineTotalAmount": "52.42",
        "TaxBasisTotalAmount": "52.42",
        "TaxTotalAmount": "10.48",
        "GrandTotalAmount": "62.90",
        "TotalPrepaidAmount": "0.00",
        "DuePayableAmount": "62.90",
    }
    assert breakdowns(xml) == [
        {
            "CalculatedAmount": "10.48",
            "TypeCode": "VAT",
            "BasisAmount": "52.42",
            "CategoryCode": "S",
            "RateApplicablePercent": "20",
        }
    ]
    # The same figures as the PDF text, to the cent.
    for value in summation(xml).values():
        if value != "0.00":
            assert value in text
    totals = facturx_xml.read_totals(xml)
    assert totals.grand_total == Decimal("62.90") and totals.tax_total == Decimal("10.48")


def test_vat_inclusive_nets_the_lines_and_keeps_the_total(tmp_path: Path) -> None:
    invoice = vat_inclusive()
    pdf = render_invoice_pdf(invoice, AGENCY, CLIENT, factur_x=True)
    (artifacts_dir(tmp_path) / "vat-inclusive-factur-x.pdf").write_bytes(pdf)
    text = pdf_text(pdf)
    assert "Subtotal (tax included) 52.42 EUR" in text
    assert "of which VAT 20% incl. 8.74 EUR" in text
    assert "Total (EUR) 52.42 EUR" in text

    xml = embedded_xml(pdf)
    assert line_amounts(xml) == ["0.35", "40.83", "2.50"]
    sums = summation(xml)
    assert sums["LineTotalAmount"] == sums["TaxBasisTotalAmount"] == "43.68"
    assert sums["TaxTotalAmount"] == "8.74"
    assert sums["GrandTotalAmount"] == sums["DuePayableAmount"] == "52.42"
    assert [b["CategoryCode"] for b in breakdowns(xml)] == ["S"]


def test_untaxed_invoice_uses_the_exempt_category_with_a_reason() -> None:
    pdf = render_invoice_pdf(worked_month(), AGENCY, CLIENT, factur_x=True)
    xml = embedded_xml(pdf)
    assert line_amounts(xml) == ["0.42", "49.00", "3.00"]
    assert summation(xml)["GrandTotalAmount"] == "52.42"
    assert summation(xml)["TaxTotalAmount"] == "0.00"
    assert breakdowns(xml) == [
        {
            "CalculatedAmount": "0.00",
            "TypeCode": "VAT",
            "ExemptionReason": AGENCY.vat_exemption_reason,
            "BasisAmount": "52.42",
            "CategoryCode": "E",
            "RateApplicablePercent": "0",
        }
    ]
    zero_rated = replace(AGENCY, untaxed_vat_category="Z")
    xml = embedded_xml(render_invoice_pdf(worked_month(), zero_rated, CLIENT, factur_x=True))
    (breakdown,) = breakdowns(xml)
    assert breakdown["CategoryCode"] == "Z" and "ExemptionReason" not in breakdown


def test_a_line_whose_tax_rounds_to_zero_stays_standard_rated() -> None:
    base = vat_exclusive()
    tiny = _line(
        "voice.overage.outbound", "Outbound minutes beyond the plan", "1.000", "0.02", 2, 0
    )
    invoice = replace(base, lines=[*base.lines, tiny], subtotal_minor=5244, total_minor=6292)
    xml = embedded_xml(render_invoice_pdf(invoice, AGENCY, CLIENT, factur_x=True))
    (breakdown,) = breakdowns(xml)
    assert breakdown["CategoryCode"] == "S"
    assert breakdown["BasisAmount"] == "52.44" and breakdown["CalculatedAmount"] == "10.48"
    assert summation(xml)["GrandTotalAmount"] == "62.92"


def test_a_paid_receipt_shows_paid_and_nothing_due() -> None:
    receipt = StoredInvoice(
        number="ACME-R-000003",
        agency_id="acme",
        issuer="ACME",
        kind="receipt",
        sub_account_id="dental",
        period=None,
        currency="EUR",
        issued_at=datetime(2026, 11, 14, 9, 30, tzinfo=UTC),
        status="paid",
        subtotal_minor=10000,
        tax_minor=2000,
        total_minor=12000,
        tax_label="VAT 20%",
        usage=None,
        lines=[_line("credits.purchase", "Credits 100.00", "1", None, 10000, 2000)],
    )
    pdf = render_invoice_pdf(receipt, AGENCY, CLIENT, factur_x=True)
    text = pdf_text(pdf)
    assert "PAID" in text and "DUE" not in text
    assert "Total (EUR) 120.00 EUR" in text
    assert "Usage summary" not in text
    sums = summation(embedded_xml(pdf))
    assert sums["TotalPrepaidAmount"] == sums["GrandTotalAmount"] == "120.00"
    assert sums["DuePayableAmount"] == "0.00"


def test_client_invoice_carries_only_the_agency_brand(tmp_path: Path) -> None:
    from PIL import Image

    logo = io.BytesIO()
    Image.new("RGB", (120, 40), (255, 200, 0)).save(logo, format="PNG")
    brand = replace(AGENCY, name="Nimbus Calls", colour="#ffd33d", logo_png=logo.getvalue())
    pdf = render_invoice_pdf(vat_exclusive(), brand, CLIENT, factur_x=True)
    (artifacts_dir(tmp_path) / "client-invoice-branded.pdf").write_bytes(pdf)

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = pdf_text(pdf)
    xml = embedded_xml(pdf).decode()
    metadata = " ".join(str(v) for v in (reader.metadata or {}).values())
    assert "Nimbus Calls" in text and "Nimbus Calls" in xml and "Nimbus Calls" in metadata
    for place in (text, xml, metadata, pdf.decode("latin-1")):
        assert PLATFORM_NAME not in place
        assert "rebill" not in place.lower()
        assert "Acme Voice" not in place  # the default brand of the other tests
    assert reader.pages[0].images, "the logo is drawn"


def test_no_tax_id_means_a_plain_pdf() -> None:
    brand = replace(AGENCY, tax_id=None)
    pdf = render_invoice_pdf(vat_exclusive(), brand, CLIENT, factur_x=True)
    assert not pypdf.PdfReader(io.BytesIO(pdf)).attachments
    assert "Total (EUR) 62.90 EUR" in pdf_text(pdf)


def test_non_latin_text_is_transliterated() -> None:
    brand = replace(AGENCY, name="Łódź Głos — 東京")
    client = replace(CLIENT, name="Żółć Śmiałek")
    text = pdf_text(render_invoice_pdf(worked_month(), brand, client, factur_x=False))
    assert "Lódz Glos — ??" in text
    assert "Zólc Smialek" in text


def test_inconsistent_totals_are_refused() -> None:
    broken = replace(vat_exclusive(), total_minor=6291)
    with pytest.raises(InvoiceDocumentError, match="total 6291"):
        render_invoice_pdf(broken, AGENCY, CLIENT, factur_x=True)


def test_xml_invalid_against_the_schema_raises_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = facturx_xml.build_cii_xml

    def without_currency(*args: object) -> bytes:
        xml = real(*args)  # type: ignore[arg-type]
        return re.sub(rb"<ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>", b"", xml)

    monkeypatch.setattr(facturx_xml, "build_cii_xml", without_currency)
    with pytest.raises(InvoiceDocumentError, match="not valid against the EN 16931 schema"):
        render_invoice_pdf(vat_exclusive(), AGENCY, CLIENT, factur_x=True)


def test_xml_breaking_the_sums_raises_a_clear_error() -> None:
    xml = facturx_xml.build_cii_xml(vat_exclusive(), AGENCY, CLIENT)
    tampered = xml.replace(b"<ram:GrandTotalAmount>62.90<", b"<ram:GrandTotalAmount>62.91<")
    facturx_xml.check_xsd(tampered)  # still schema-valid...
    with pytest.raises(InvoiceDocumentError, match="BR-CO-15"):
        facturx_xml.read_totals(tampered)  # ...but not EN 16931


def test_bad_brand_data_is_refused() -> None:
    with pytest.raises(InvoiceDocumentError, match="hex colour"):
        replace(AGENCY, colour="blue")
    with pytest.raises(InvoiceDocumentError, match="PNG"):
        replace(AGENCY, logo_png=b"GIF89a")


def test_several_rates_a_credit_line_and_a_non_vat_tax_number() -> None:
    """Tax computed per line by an outside service (two rates) and a negative proration line;
    a US-style tax number is the seller's tax registration (FC), not a VAT identifier."""
    invoice = StoredInvoice(
        number="NIM-000042",
        agency_id="nimbus",
        issuer="NIM",
        kind="retail",
        sub_account_id="shop",
        period="2026-11",
        currency="USD",
        issued_at=datetime(2026, 12, 1, tzinfo=UTC),
        status="open",
        subtotal_minor=14000,
        tax_minor=2300,
        total_minor=16300,
        tax_label="Sales tax",
        usage=None,
        lines=[
            _line("plan.fee", "Pro plan, 2026-12", "1", "100.00", 10000, 2000),
            _line("number.rental.toll_free", "toll-free numbers", "2", "25.00", 5000, 500),
            _line("plan.proration", "Downgrade credit", "1", "-10.00", -1000, -200),
        ],
    )
    brand = replace(AGENCY, tax_id="12-3456789", country="US")
    pdf = render_invoice_pdf(invoice, brand, CLIENT, factur_x=True)
    assert "Total (USD) 163.00 USD" in pdf_text(pdf)
    xml = embedded_xml(pdf)
    assert line_amounts(xml) == ["100.00", "50.00", "-10.00"]
    assert summation(xml)["GrandTotalAmount"] == "163.00"
    assert [
        (b["CategoryCode"], b["RateApplicablePercent"], b["BasisAmount"], b["CalculatedAmount"])
        for b in breakdowns(xml)
    ] == [("S", "10", "50.00", "5.00"), ("S", "20", "90.00", "18.00")]
    registration = ET.fromstring(xml).find(
        ".//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID", NS
    )
    assert registration is not None and registration.get("schemeID") == "FC"


# Presentation (issue 15): the document's title, due date, pay link, parties, codes, proration.


def _receipt(**changes: object) -> StoredInvoice:
    receipt = worked_month(
        number="ACME-R-000003",
        kind="receipt",
        period=None,
        status="paid",
        issued_at=datetime(2026, 11, 14, 9, 30, tzinfo=UTC),
        subtotal_minor=10000,
        total_minor=10000,
        usage=None,
        lines=[_line("credits.purchase", "Credits 100.00", "1", None, 10000, 0)],
    )
    return replace(receipt, **changes)  # type: ignore[arg-type]


def title_of(pdf: bytes) -> str:
    return str(pypdf.PdfReader(io.BytesIO(pdf)).metadata.title)


def test_each_kind_of_document_is_titled_as_what_it_is() -> None:
    invoice = pdf_text(render_invoice_pdf(worked_month(), AGENCY, CLIENT, factur_x=False))
    assert "INVOICE" in invoice and "Invoice number ACME-000007" in invoice
    receipt_pdf = render_invoice_pdf(_receipt(), AGENCY, CLIENT, factur_x=False)
    receipt = pdf_text(receipt_pdf)
    assert "RECEIPT" in receipt and "INVOICE" not in receipt
    assert "Receipt number ACME-R-000003" in receipt
    assert title_of(receipt_pdf) == "Acme Voice: Receipt ACME-R-000003"
    credit = _receipt(number="ACME-CN-000001", kind="credit_note", credit_of="ACME-R-000003")
    credit_pdf = render_invoice_pdf(credit, AGENCY, CLIENT, factur_x=False)
    text = pdf_text(credit_pdf)
    assert "CREDIT NOTE" in text and "INVOICE" not in text
    assert "Credit note number ACME-CN-000001" in text
    assert "Credit of ACME-R-000003" in text
    issued = replace(credit, status="issued")  # as refunds store them
    text = pdf_text(render_invoice_pdf(issued, AGENCY, CLIENT, factur_x=True))
    assert "Refunded to you - credits ACME-R-000003" in text
    assert "Amount due" not in text and "Due date" not in text


def test_due_date_follows_due_on_receipt() -> None:
    open_text = pdf_text(render_invoice_pdf(worked_month(), AGENCY, CLIENT, factur_x=False))
    assert "Due date On receipt (2026-12-01)" in open_text
    paid_text = pdf_text(render_invoice_pdf(_receipt(), AGENCY, CLIENT, factur_x=False))
    assert "Due date 2026-11-14" in paid_text
    credit = _receipt(kind="credit_note", credit_of="ACME-R-000003")
    assert "Due date" not in pdf_text(render_invoice_pdf(credit, AGENCY, CLIENT, factur_x=False))


def test_an_open_invoice_links_to_the_pay_page() -> None:
    url = "https://billing.acme-voice.test/client/invoices"
    pdf = render_invoice_pdf(worked_month(), AGENCY, CLIENT, factur_x=True, pay_url=url)
    assert f"Pay online: {url}" in pdf_text(pdf)
    links = [
        annot.get_object()["/A"]["/URI"]
        for page in pypdf.PdfReader(io.BytesIO(pdf)).pages
        for annot in page.get("/Annots", [])
    ]
    assert links == [url]
    paid = render_invoice_pdf(_receipt(), AGENCY, CLIENT, factur_x=False, pay_url=url)
    assert "Pay online" not in pdf_text(paid)  # nothing left to pay
    assert "Pay online" not in pdf_text(
        render_invoice_pdf(worked_month(), AGENCY, CLIENT, factur_x=False)
    )


def test_seller_and_buyer_addresses_and_tax_ids() -> None:
    buyer = replace(CLIENT, tax_id="CHE-123.456.789 MWST")
    text = pdf_text(render_invoice_pdf(worked_month(), AGENCY, buyer, factur_x=True))
    seller_at = text.index("12 rue de la Paix")
    assert text.index("Tax ID: FR40303265045") > seller_at
    buyer_at = text.index("BILL TO")
    assert buyer_at > seller_at
    for part in ("Bahnhofstrasse 1", "8001 Zürich", "CH", "Tax ID: CHE-123.456.789 MWST"):
        assert text.index(part, buyer_at) > buyer_at


def test_line_codes_never_wrap() -> None:
    lines = [
        _line(
            "voice.overage.outbound",
            "Outbound minutes beyond the plan, 2026-11",
            "1.000",
            "0.09",
            9,
            0,
        ),
        _line("number.rental.toll_free", "toll-free numbers, 2026-12", "1", "5.00", 500, 0),
    ]
    invoice = worked_month(lines=lines, subtotal_minor=509, total_minor=509)
    text = pdf_text(render_invoice_pdf(invoice, AGENCY, CLIENT, factur_x=False))
    assert "voice.overage.outbound" in text
    assert "number.rental.toll_free" in text


def test_prorated_quantities_are_explained() -> None:
    wholesale = worked_month(
        kind="wholesale",
        lines=[
            _line("number.local", "local numbers, by seconds held in 2026-11", "3", "2.15", 344, 0),
            _line("platform.fee", "Platform fee, 2026-11", "1", "48.98", 4898, 0),
        ],
    )
    text = pdf_text(render_invoice_pdf(wholesale, AGENCY, CLIENT, factur_x=True))
    assert "3 × 2.15 × 16/30 days = 3.44" in text
    assert text.count("×") == 2  # one note: a full-price line needs no explanation
    upgrade = _receipt(
        lines=[_line("plan.proration", "Upgrade to Pro", "1", "150.00", 7500, 0)],
        subtotal_minor=7500,
        total_minor=7500,
    )
    text = pdf_text(render_invoice_pdf(upgrade, AGENCY, CLIENT, factur_x=False))
    assert "1 × 150.00 × 50 % of the month = 75.00" in text
