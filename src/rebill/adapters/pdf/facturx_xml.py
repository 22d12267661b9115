"""Factur-X (EN 16931 profile) CII XML of a stored invoice, checked before it is embedded.

The XML carries the invoice's own figures, never recomputed ones: each line's net amount and
tax as stored (rounded once per line, BILLING_MODEL §10), their sums as BT-106/BT-110, the
grand total as BT-112. Two checks run offline before embedding: the EN 16931 XSD shipped with
the `factur-x` library, and the EN 16931 sum rules (BR-CO-10/13/14/15/16, BR-S-08/09,
BR-E-08/09/10, BR-Z-08/09/10, BR-DEC) recomputed here on the XML itself, because the official
schematron is XSLT 2.0 and would need a Saxon server.

VAT categories (UNTDID 5305), per line:
- `S` (standard rated) with the invoice's rate whenever the invoice charges tax and the line's
  stored tax is what that rate gives for its amount, including a tiny line whose tax rounds to
  zero (it is still a standard-rated supply);
- a line without tax that the rate would have taxed, and every line of an invoice that charges
  no tax at all, gets the issuer's `untaxed_vat_category`: `E` (exempt; BR-E-10 makes the
  exemption reason mandatory, so the document states why no VAT is charged) by default, or `Z`
  (zero rated; BR-Z-10 forbids a reason);
- an invoice whose tax decision (docs/tax.md, stored as its `tax_treatment`) is
  `reverse_charge` has every line in `AE` at 0 % (the buyer's VAT identifier BT-48 and the
  exemption reason "Reverse charge - Article 196 ..." with code VATEX-EU-AE, BR-AE-*); one
  that is `export` has every line in `G` at 0 % with the export reason and code VATEX-EU-G
  (BR-G-*), or in `O` (not subject to VAT, BR-O-*) when the seller has no VAT identifier,
  since BR-G-02 requires one and BR-O-02 forbids it. The legal mention is also a note (BT-22).

The rate is not stored on the invoice; it is the simplest percentage (fewest decimals) that
reproduces every taxed line's stored tax with rebill's own rounding (`TaxPolicy`), preferring
a percentage written in the tax label ("VAT 20%"). If no single rate fits (tax computed per
line by an outside service at several rates), each line gets the simplest rate of its own.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from rebill.adapters.pdf.brand import IssuerBrand, Party
from rebill.adapters.pdf.errors import InvoiceDocumentError
from rebill.domain.country import is_country
from rebill.domain.money import currency_exponent, format_minor, format_quantity
from rebill.domain.tax import TaxPolicy
from rebill.domain.tax_decision import CATEGORIES, EXEMPTION_CODES, legal_mention
from rebill.services.ports import StoredInvoice, StoredLine

FLAVOR = "factur-x"
LEVEL = "en16931"
GUIDELINE_ID = "urn:cen.eu:en16931:2017"  # BT-24 of the EN 16931 profile
INVOICE_TYPE_CODE = "380"  # commercial invoice (UNTDID 1001)
CREDIT_NOTE_TYPE_CODE = "381"  # credit note (UNTDID 1001)
NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

MINUTE_UNIT = "MIN"  # UN/ECE Rec. 20: minute
PIECE_UNIT = "C62"  # UN/ECE Rec. 20: one (numbers, plan fees, credits)
_LABEL_PERCENT = re.compile(r"(\d{1,3}(?:[.,]\d{1,4})?)\s*%")
_MAX_RATE_DECIMALS = 4
_VAT_ID = re.compile(r"^[A-Z]{2}[0-9A-Za-z+*.]{2,13}$")


@dataclass(frozen=True)
class VatLine:
    """One invoice line as EN 16931 sees it: net amount (BT-131), category and rate."""

    line: StoredLine
    net_minor: int
    tax_minor: int
    category: str
    rate_percent: Decimal


@dataclass(frozen=True)
class VatGroup:
    """One VAT breakdown (BG-23)."""

    category: str
    rate_percent: Decimal
    basis_minor: int
    tax_minor: int


def tax_inclusive(invoice: StoredInvoice) -> bool:
    """Whether the line amounts include their tax (manual inclusive tax), from the totals."""
    subtotal = sum(line.amount_minor for line in invoice.lines)
    tax = sum(line.tax_minor for line in invoice.lines)
    if subtotal != invoice.subtotal_minor or tax != invoice.tax_minor:
        raise InvoiceDocumentError(
            f"invoice {invoice.number}: lines sum to {subtotal} and tax {tax} (minor units), "
            f"but the invoice says subtotal {invoice.subtotal_minor} and tax {invoice.tax_minor}"
        )
    if invoice.total_minor == invoice.subtotal_minor + invoice.tax_minor:
        return False
    if invoice.total_minor == invoice.subtotal_minor:
        return True
    raise InvoiceDocumentError(
        f"invoice {invoice.number}: total {invoice.total_minor} is neither subtotal + tax "
        f"nor subtotal (tax included)"
    )


def _policy(rate: Decimal, inclusive: bool) -> TaxPolicy:
    return TaxPolicy(
        mode="manual", rate_percent=rate, behavior="inclusive" if inclusive else "exclusive"
    )


def _fits(rate: Decimal, lines: Iterable[StoredLine], inclusive: bool) -> bool:
    policy = _policy(rate, inclusive)
    return all(policy.line_tax_minor(ln.amount_minor) == ln.tax_minor for ln in lines)


def _percent_bounds(line: StoredLine, inclusive: bool) -> tuple[Fraction, Fraction]:
    """The percentages whose rounding gives this line's tax (a closed superset)."""
    amount, tax = abs(line.amount_minor), abs(line.tax_minor)
    low, high = Fraction(2 * tax - 1, 2 * amount), Fraction(2 * tax + 1, 2 * amount)
    if inclusive:  # tax = a·r/(1+r), so r = x/(1-x) with x = tax/a
        low = low / (1 - low) if low < 1 else Fraction(10**6)
        high = high / (1 - high) if high < 1 else Fraction(10**6)
    return max(low, Fraction(0)) * 100, min(high * 100, Fraction(100))


def _simplest_rate(
    lines: list[StoredLine], inclusive: bool, preferred: Decimal | None
) -> Decimal | None:
    if preferred is not None and _fits(preferred, lines, inclusive):
        return preferred
    bounds = [_percent_bounds(ln, inclusive) for ln in lines]
    low = max(b[0] for b in bounds)
    high = min(b[1] for b in bounds)
    if low > high:
        return None
    for decimals in range(_MAX_RATE_DECIMALS + 1):
        step = Fraction(1, 10**decimals)
        first = math.ceil(low / step)
        for k in range(first, first + 3):
            candidate = k * step
            if candidate > high + step:
                break
            rate = Decimal(k).scaleb(-decimals)  # k × 10^-decimals, exact
            if Decimal(0) < rate <= 100 and _fits(rate, lines, inclusive):
                return rate
    return None


def _label_rate(label: str) -> Decimal | None:
    match = _LABEL_PERCENT.search(label)
    if not match:
        return None
    try:
        return Decimal(match.group(1).replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the regex only lets digits through
        return None


def seller_vat_id(issuer: IssuerBrand) -> str | None:
    """The issuer's tax ID when it is a VAT identifier (BT-31: an ISO 3166 prefix)."""
    tax_id = (issuer.tax_id or "").strip().replace(" ", "")
    return tax_id if _VAT_ID.match(tax_id) else None


def buyer_vat_id(recipient: Party) -> str | None:
    """The buyer's tax ID when it is a VAT identifier (BT-48, BR-CO-09: ISO prefix or EL)."""
    tax_id = (recipient.tax_id or "").strip().replace(" ", "")
    prefix = tax_id[:2]
    if _VAT_ID.match(tax_id) and (is_country(prefix) or prefix == "EL"):
        return tax_id
    return None


def decided_category(invoice: StoredInvoice, issuer: IssuerBrand) -> str | None:
    """The category every line of a reverse-charge or export invoice is in; None otherwise."""
    if invoice.tax_treatment == "standard":
        return None
    category = CATEGORIES[invoice.tax_treatment]
    if category == "G" and seller_vat_id(issuer) is None:
        return "O"
    return category


def vat_lines(invoice: StoredInvoice, issuer: IssuerBrand) -> list[VatLine]:
    """Each line with its EN 16931 net amount, VAT category and rate (see the module doc)."""
    inclusive = tax_inclusive(invoice)
    decided = decided_category(invoice, issuer)
    if decided is not None:
        if invoice.tax_minor != 0:
            raise InvoiceDocumentError(
                f"invoice {invoice.number}: {invoice.tax_treatment} but tax {invoice.tax_minor}"
            )
        return [VatLine(ln, ln.amount_minor, 0, decided, Decimal(0)) for ln in invoice.lines]
    untaxed = issuer.untaxed_vat_category
    taxed = [ln for ln in invoice.lines if ln.tax_minor != 0]
    rates: dict[int, Decimal] = {}
    shared = _simplest_rate(taxed, inclusive, _label_rate(invoice.tax_label)) if taxed else None
    if taxed and shared is None:
        for index, ln in enumerate(invoice.lines):
            if ln.tax_minor == 0:
                continue
            own = _simplest_rate([ln], inclusive, None)
            if own is None:
                raise InvoiceDocumentError(
                    f"invoice {invoice.number}: no VAT rate gives the tax {ln.tax_minor} of "
                    f"line {ln.code} ({ln.amount_minor} minor units)"
                )
            rates[index] = own
    result = []
    for index, ln in enumerate(invoice.lines):
        net = ln.amount_minor - ln.tax_minor if inclusive else ln.amount_minor
        rate = rates.get(index, shared)
        if rate is not None and (ln.tax_minor != 0 or _fits(rate, [ln], inclusive)):
            result.append(VatLine(ln, net, ln.tax_minor, "S", rate))
        else:
            result.append(VatLine(ln, net, 0, untaxed, Decimal(0)))
    return result


def vat_groups(lines: list[VatLine]) -> list[VatGroup]:
    groups: dict[tuple[str, Decimal], tuple[int, int]] = {}
    for vl in lines:
        key = (vl.category, vl.rate_percent)
        basis, tax = groups.get(key, (0, 0))
        groups[key] = (basis + vl.net_minor, tax + vl.tax_minor)
    return [
        VatGroup(category, rate, basis, tax)
        for (category, rate), (basis, tax) in sorted(groups.items(), key=lambda kv: kv[0])
    ]


# --- XML -----------------------------------------------------------------------------------


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def _sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, _q(name), attrs)
    if text is not None:
        element.text = text
    return element


def _date(parent: ET.Element, name: str, value: date) -> None:
    holder = _sub(parent, name)
    _sub(holder, "udt:DateTimeString", value.strftime("%Y%m%d"), format="102")


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def period_dates(period: str | None) -> tuple[date, date] | None:
    match = re.match(r"^(\d{4})-(\d{2})$", period or "")
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return None
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return date(year, month, 1), date.fromordinal(following.toordinal() - 1)


def _address(party: ET.Element, lines: tuple[str, ...], country: str) -> None:
    address = _sub(party, "ram:PostalTradeAddress")
    kept = [ln for ln in lines if ln.strip()]
    if len(kept) > 3:
        kept = [*kept[:2], ", ".join(kept[2:])]
    for name, text in zip(("ram:LineOne", "ram:LineTwo", "ram:LineThree"), kept, strict=False):
        _sub(address, name, text)
    _sub(address, "ram:CountryID", country)


def _seller(agreement: ET.Element, issuer: IssuerBrand) -> None:
    assert issuer.tax_id
    tax_id = issuer.tax_id.strip().replace(" ", "")
    # BT-31 (VAT identifier, scheme VA) needs an ISO 3166 prefix (BR-CO-09); any other tax
    # number is the seller's tax registration (BT-32, scheme FC), which BR-S-02 also accepts.
    vat = seller_vat_id(issuer) is not None
    party = _sub(agreement, "ram:SellerTradeParty")
    _sub(party, "ram:Name", issuer.name)
    if not vat:  # BR-CO-26: a seller identifier when there is no VAT identifier
        legal = _sub(party, "ram:SpecifiedLegalOrganization")
        _sub(legal, "ram:ID", tax_id)
    _address(party, issuer.address_lines, issuer.country)
    if issuer.support_email:
        uri = _sub(party, "ram:URIUniversalCommunication")
        _sub(uri, "ram:URIID", issuer.support_email, schemeID="EM")
    registration = _sub(party, "ram:SpecifiedTaxRegistration")
    _sub(registration, "ram:ID", tax_id, schemeID="VA" if vat else "FC")


def _buyer(agreement: ET.Element, recipient: Party, category: str | None) -> None:
    """BG-7. The buyer's VAT identifier is BT-48 (scheme VA), except under `O` (BR-O-02
    forbids it); any other tax ID is its legal registration identifier (BT-47)."""
    party = _sub(agreement, "ram:BuyerTradeParty")
    _sub(party, "ram:Name", recipient.name)
    vat = buyer_vat_id(recipient) if category != "O" else None
    registration = (recipient.tax_id or "").strip()
    if registration and vat is None:
        legal = _sub(party, "ram:SpecifiedLegalOrganization")
        _sub(legal, "ram:ID", registration)
    _address(party, recipient.address_lines, recipient.country)
    if recipient.email:
        uri = _sub(party, "ram:URIUniversalCommunication")
        _sub(uri, "ram:URIID", recipient.email, schemeID="EM")
    if vat is not None:
        tax = _sub(party, "ram:SpecifiedTaxRegistration")
        _sub(tax, "ram:ID", vat, schemeID="VA")


def _quantity_and_price(vl: VatLine, inclusive: bool, currency: str) -> tuple[Decimal, Decimal]:
    """BT-129 and BT-146 (a net price, never negative: BR-27; the sign goes on the quantity)."""
    ln = vl.line
    try:
        quantity = Decimal(ln.quantity)
    except InvalidOperation:
        quantity = Decimal(0)
    if quantity == 0:
        quantity = Decimal(1)
    quantity = abs(quantity)
    if vl.net_minor < 0:
        quantity = -quantity
    if ln.unit_price is not None and not inclusive:
        try:
            return quantity, abs(Decimal(ln.unit_price))
        except InvalidOperation:
            pass
    # BT-146 to four decimals, through the project's one rounding rule.
    exact = abs(Fraction(vl.net_minor, 10 ** currency_exponent(currency)) / Fraction(quantity))
    return quantity, Decimal(format_quantity(exact, 4))


def _exemption(
    category: str, invoice: StoredInvoice, issuer: IssuerBrand
) -> tuple[str | None, str | None]:
    """BT-120 and BT-121 of a breakdown: mandatory for E, AE, G and O, forbidden for S, Z."""
    if category == "E":
        return issuer.vat_exemption_reason, None
    if category in ("AE", "G"):
        return legal_mention(invoice.tax_treatment, issuer.country), EXEMPTION_CODES[
            invoice.tax_treatment
        ]
    if category == "O":
        return legal_mention(invoice.tax_treatment, issuer.country), "VATEX-EU-O"
    return None, None


def build_cii_xml(invoice: StoredInvoice, issuer: IssuerBrand, recipient: Party) -> bytes:
    """The invoice as Factur-X EN 16931 CII XML (UTF-8 bytes). Not yet checked."""
    if not issuer.tax_id:
        raise InvoiceDocumentError(
            f"invoice {invoice.number}: Factur-X needs the issuer's tax ID (BR-S-02/BR-E-02)"
        )
    currency = invoice.currency
    if currency_exponent(currency) > 2:
        raise InvoiceDocumentError(
            f"invoice {invoice.number}: EN 16931 amounts have at most 2 decimals (BR-DEC), "
            f"{currency} has {currency_exponent(currency)}"
        )
    if not invoice.lines:
        raise InvoiceDocumentError(f"invoice {invoice.number} has no lines (BR-16)")
    inclusive = tax_inclusive(invoice)
    lines = vat_lines(invoice, issuer)
    groups = vat_groups(lines)

    def money(minor: int) -> str:
        return format_minor(minor, currency)

    root = ET.Element(_q("rsm:CrossIndustryInvoice"))
    context = _sub(root, "rsm:ExchangedDocumentContext")
    _sub(_sub(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINE_ID)
    document = _sub(root, "rsm:ExchangedDocument")
    _sub(document, "ram:ID", invoice.number)
    credit_note = invoice.kind == "credit_note"
    _sub(document, "ram:TypeCode", CREDIT_NOTE_TYPE_CODE if credit_note else INVOICE_TYPE_CODE)
    _date(document, "ram:IssueDateTime", invoice.issued_at.date())
    if invoice.period:
        note = _sub(document, "ram:IncludedNote")
        _sub(note, "ram:Content", f"Billing period {invoice.period}")
    mention = legal_mention(invoice.tax_treatment, issuer.country)
    if mention:
        note = _sub(document, "ram:IncludedNote")
        _sub(note, "ram:Content", mention)

    transaction = _sub(root, "rsm:SupplyChainTradeTransaction")
    for number, vl in enumerate(lines, start=1):
        item = _sub(transaction, "ram:IncludedSupplyChainTradeLineItem")
        _sub(_sub(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(number))
        product = _sub(item, "ram:SpecifiedTradeProduct")
        _sub(product, "ram:SellerAssignedID", vl.line.code)
        _sub(product, "ram:Name", vl.line.description or vl.line.code)
        quantity, price = _quantity_and_price(vl, inclusive, currency)
        agreement = _sub(item, "ram:SpecifiedLineTradeAgreement")
        _sub(
            _sub(agreement, "ram:NetPriceProductTradePrice"),
            "ram:ChargeAmount",
            _decimal_text(price),
        )
        delivery = _sub(item, "ram:SpecifiedLineTradeDelivery")
        unit = MINUTE_UNIT if vl.line.code.startswith("voice.") else PIECE_UNIT
        _sub(delivery, "ram:BilledQuantity", _decimal_text(quantity), unitCode=unit)
        settlement = _sub(item, "ram:SpecifiedLineTradeSettlement")
        tax = _sub(settlement, "ram:ApplicableTradeTax")
        _sub(tax, "ram:TypeCode", "VAT")
        _sub(tax, "ram:CategoryCode", vl.category)
        if vl.category != "O":  # BR-O-05: no rate on a line not subject to VAT
            _sub(tax, "ram:RateApplicablePercent", _decimal_text(vl.rate_percent))
        summation = _sub(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _sub(summation, "ram:LineTotalAmount", money(vl.net_minor))

    header_agreement = _sub(transaction, "ram:ApplicableHeaderTradeAgreement")
    _seller(header_agreement, issuer)
    _buyer(header_agreement, recipient, decided_category(invoice, issuer))
    _sub(transaction, "ram:ApplicableHeaderTradeDelivery")
    header = _sub(transaction, "ram:ApplicableHeaderTradeSettlement")
    _sub(header, "ram:InvoiceCurrencyCode", currency)
    for group in groups:
        breakdown = _sub(header, "ram:ApplicableTradeTax")
        _sub(breakdown, "ram:CalculatedAmount", money(group.tax_minor))
        _sub(breakdown, "ram:TypeCode", "VAT")
        reason, code = _exemption(group.category, invoice, issuer)
        if reason:
            _sub(breakdown, "ram:ExemptionReason", reason)
        _sub(breakdown, "ram:BasisAmount", money(group.basis_minor))
        _sub(breakdown, "ram:CategoryCode", group.category)
        if code:
            _sub(breakdown, "ram:ExemptionReasonCode", code)
        _sub(breakdown, "ram:RateApplicablePercent", _decimal_text(group.rate_percent))
    period = period_dates(invoice.period)
    if period is not None:
        billing = _sub(header, "ram:BillingSpecifiedPeriod")
        _date(billing, "ram:StartDateTime", period[0])
        _date(billing, "ram:EndDateTime", period[1])
    # A credit note's refund is made when it is issued: nothing is left to pay on it.
    paid = invoice.status == "paid" or credit_note
    terms = _sub(header, "ram:SpecifiedTradePaymentTerms")  # BR-CO-25 when an amount is due
    _sub(
        terms,
        "ram:Description",
        "Refunded" if credit_note else "Paid" if paid else "Due on receipt",
    )
    if not paid:  # BT-9: due on receipt, the issue date (docs/billing-model.md)
        _date(terms, "ram:DueDateDateTime", invoice.issued_at.date())
    net_total = sum(vl.net_minor for vl in lines)
    tax_total = sum(g.tax_minor for g in groups)
    grand = net_total + tax_total
    if grand != invoice.total_minor or tax_total != invoice.tax_minor:
        raise InvoiceDocumentError(
            f"invoice {invoice.number}: EN 16931 totals ({money(grand)}, tax {money(tax_total)})"
            f" differ from the invoice's ({money(invoice.total_minor)}, tax "
            f"{money(invoice.tax_minor)})"
        )
    prepaid = grand if paid else 0
    sums = _sub(header, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _sub(sums, "ram:LineTotalAmount", money(net_total))  # BT-106
    _sub(sums, "ram:TaxBasisTotalAmount", money(net_total))  # BT-109
    _sub(sums, "ram:TaxTotalAmount", money(tax_total), currencyID=currency)  # BT-110
    _sub(sums, "ram:GrandTotalAmount", money(grand))  # BT-112
    _sub(sums, "ram:TotalPrepaidAmount", money(prepaid))  # BT-113
    _sub(sums, "ram:DuePayableAmount", money(grand - prepaid))  # BT-115
    if credit_note and invoice.credit_of:  # BT-25: the invoice this note credits
        _sub(
            _sub(header, "ram:InvoiceReferencedDocument"), "ram:IssuerAssignedID", invoice.credit_of
        )
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


# --- checks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CiiTotals:
    """The document-level figures read back from a CII XML, as exact decimals."""

    number: str
    currency: str
    line_net: tuple[Decimal, ...]
    line_total: Decimal  # BT-106
    tax_basis: Decimal  # BT-109
    tax_total: Decimal  # BT-110
    grand_total: Decimal  # BT-112
    prepaid: Decimal  # BT-113
    due: Decimal  # BT-115
    seller: str
    buyer: str


def _amount(element: ET.Element | None, what: str) -> Decimal:
    if element is None or element.text is None:
        raise InvoiceDocumentError(f"Factur-X XML: {what} is missing")
    text = element.text.strip()
    if "." in text and len(text.split(".")[1]) > 2:
        raise InvoiceDocumentError(f"Factur-X XML: {what} {text} has more than 2 decimals")
    return Decimal(text)


def read_totals(xml: bytes) -> CiiTotals:
    """Read the EN 16931 figures back and check their sums (see the module doc)."""
    root = ET.fromstring(xml)
    header = root.find("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement", NS)
    if header is None:
        raise InvoiceDocumentError("Factur-X XML: no ApplicableHeaderTradeSettlement")
    sums = header.find("ram:SpecifiedTradeSettlementHeaderMonetarySummation", NS)
    if sums is None:
        raise InvoiceDocumentError("Factur-X XML: no monetary summation (BG-22)")
    items = root.findall("rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem", NS)
    per_key: dict[tuple[str, Decimal], Decimal] = {}
    nets = []
    for item in items:
        net = _amount(
            item.find(
                "ram:SpecifiedLineTradeSettlement/"
                "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
                NS,
            ),
            "BT-131",
        )
        nets.append(net)
        category = item.findtext(
            "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode", "", NS
        )
        rate = Decimal(
            item.findtext(
                "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent",
                "0",
                NS,
            )
        )
        per_key[(category, rate)] = per_key.get((category, rate), Decimal(0)) + net
    currency = header.findtext("ram:InvoiceCurrencyCode", "", NS)
    totals = CiiTotals(
        number=root.findtext("rsm:ExchangedDocument/ram:ID", "", NS),
        currency=currency,
        line_net=tuple(nets),
        line_total=_amount(sums.find("ram:LineTotalAmount", NS), "BT-106"),
        tax_basis=_amount(sums.find("ram:TaxBasisTotalAmount", NS), "BT-109"),
        tax_total=_amount(sums.find(f"ram:TaxTotalAmount[@currencyID='{currency}']", NS), "BT-110"),
        grand_total=_amount(sums.find("ram:GrandTotalAmount", NS), "BT-112"),
        prepaid=_amount(sums.find("ram:TotalPrepaidAmount", NS), "BT-113"),
        due=_amount(sums.find("ram:DuePayableAmount", NS), "BT-115"),
        seller=root.findtext(".//ram:SellerTradeParty/ram:Name", "", NS),
        buyer=root.findtext(".//ram:BuyerTradeParty/ram:Name", "", NS),
    )
    problems = []
    if totals.line_total != sum(nets, Decimal(0)):
        problems.append("BR-CO-10: BT-106 is not the sum of the line net amounts")
    if totals.tax_basis != totals.line_total:
        problems.append("BR-CO-13: BT-109 is not BT-106 (no allowances or charges)")
    breakdown_tax = Decimal(0)
    seen = set()
    for tax in header.findall("ram:ApplicableTradeTax", NS):
        category = tax.findtext("ram:CategoryCode", "", NS)
        rate = Decimal(tax.findtext("ram:RateApplicablePercent", "0", NS))
        basis = _amount(tax.find("ram:BasisAmount", NS), "BT-116")
        amount = _amount(tax.find("ram:CalculatedAmount", NS), "BT-117")
        breakdown_tax += amount
        seen.add((category, rate))
        if basis != per_key.get((category, rate)):
            problems.append(f"BR-{category}-08: BT-116 of {category} {rate}% is not its lines' sum")
        if category == "S" and abs(amount - basis * rate / 100) >= 1:
            problems.append(f"BR-S-09: BT-117 of S {rate}% is not BT-116 x rate")
        if category in ("E", "Z", "AE", "G", "O") and (amount != 0 or rate != 0):
            problems.append(f"BR-{category}-09: category {category} has tax or a rate")
        has_reason = tax.find("ram:ExemptionReason", NS) is not None
        if category in ("E", "AE", "G", "O") and not has_reason:
            problems.append(f"BR-{category}-10: {category} breakdown without an exemption reason")
        if category == "Z" and has_reason:
            problems.append("BR-Z-10: zero-rated breakdown with an exemption reason")
    if seen != set(per_key):
        problems.append("BR-CO-18/BR-*-01: line VAT categories and breakdowns differ")
    if breakdown_tax != totals.tax_total:
        problems.append("BR-CO-14: BT-110 is not the sum of BT-117")
    if totals.grand_total != totals.tax_basis + totals.tax_total:
        problems.append("BR-CO-15: BT-112 is not BT-109 + BT-110")
    if totals.due != totals.grand_total - totals.prepaid:
        problems.append("BR-CO-16: BT-115 is not BT-112 - BT-113")
    if problems:
        raise InvoiceDocumentError(
            f"Factur-X XML of invoice {totals.number} breaks EN 16931 rules: " + "; ".join(problems)
        )
    return totals


def check_xsd(xml: bytes) -> None:
    """Validate against the Factur-X EN 16931 XSD shipped with the `factur-x` library."""
    import facturx

    try:
        facturx.xml_check_xsd(xml, flavor=FLAVOR, level=LEVEL)
    except Exception as exc:  # the library raises a bare Exception with the XSD error
        raise InvoiceDocumentError(
            f"Factur-X XML is not valid against the EN 16931 schema: {exc}"
        ) from exc


def embed(pdf: bytes, xml: bytes, title: str, author: str, subject: str, lang: str) -> bytes:
    """Check the XML (XSD + sums) and attach it to the PDF as `factur-x.xml`."""
    import facturx

    check_xsd(xml)
    read_totals(xml)
    metadata = {
        "author": author,
        "keywords": "Invoice, Factur-X",
        "title": title,
        "subject": subject,
    }
    result = facturx.generate_from_binary(
        pdf,
        xml,
        flavor=FLAVOR,
        level=LEVEL,
        check_xsd=False,  # done just above, with a clearer error
        check_schematron=False,  # needs a Saxon server: the sums are checked here instead
        pdf_metadata=metadata,
        lang=lang,
    )
    if not isinstance(result, bytes):  # pragma: no cover - the library returns bytes
        raise InvoiceDocumentError("the factur-x library returned no PDF")
    return result
